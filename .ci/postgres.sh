#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server (Debian's package) on loopback for the test suite.
#
#   .ci/postgres.sh start   # installs the package when missing, initdb, start, create database
#   .ci/postgres.sh stop
#
# Prints nothing secret: the server trusts loopback connections and lives in
# $TELECASE_PG_HOME (default /tmp/telecase-pg-<port>, so servers on other ports are never
# mistaken for this one), owned by the postgres system user.
set -euo pipefail
port="${TELECASE_PG_PORT:-15432}"
home="${TELECASE_PG_HOME:-/tmp/telecase-pg-$port}"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
  if [ -z "$(bindir)" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

start() {
  install
  local bin; bin="$(bindir)"
  if as_pg "$bin/pg_ctl" -D "$home" status >/dev/null 2>&1; then
    echo "postgres already running on 127.0.0.1:$port"; return 0
  fi
  rm -rf "$home"; mkdir -p "$home"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$home"
  as_pg "$bin/initdb" -D "$home" -U postgres --auth=trust -E UTF8 >/dev/null
  as_pg "$bin/pg_ctl" -D "$home" -l "$home/server.log" -w \
    -o "-p $port -k $home -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres telecase
  echo "postgres up on 127.0.0.1:$port"
}

stop() {
  local bin; bin="$(bindir)"
  [ -n "$bin" ] && [ -d "$home" ] && as_pg "$bin/pg_ctl" -D "$home" -m fast -w stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
