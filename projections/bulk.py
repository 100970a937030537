"""Writing many projection rows at once: one code path, a fast lane per database.

Every projector writes its rows through :func:`insert`: ``INSERT`` of ``rows`` (sequences in
``columns`` order) into a table, with what :class:`OnConflict` says to do with a row whose key
is there already. The statement is the same on every database; only how the rows reach it
differs:

- PostgreSQL, from :data:`STAGE_MIN_ROWS` rows up: the rows are streamed with ``COPY ... FROM
  STDIN`` (psycopg, binary format, encoded in C) into a temporary table of the transaction
  (``ON COMMIT DROP``), and one ``INSERT INTO t (...) SELECT ... FROM stage ON CONFLICT ...``
  moves them. Rows leave the stage in the order they were copied (a heap scan of a fresh
  temporary table, which is never scanned in parallel), so a serial column numbers them as the
  other path would. Rows the caller knows to be new (``new=True``: the audit trail, which
  skips what its tickets' last rows cover) are copied straight into the table instead, under a
  savepoint; a unique violation there (another instance wrote them first) rolls the savepoint
  back and takes the staged way, whose ``ON CONFLICT`` absorbs it.
- SQLite: the statement SQLAlchemy would run is compiled once per table, columns, conflict
  clause and schema translation (kept in :data:`_compiled`), and the rows go to the driver's
  ``executemany`` as tuples (``Connection.exec_driver_sql``), each value through its column
  type's own bind processor (``TypeEngine.bind_processor``: a ``DateTime`` becomes SQLite's
  text, a ``Boolean`` an integer), the values SQLAlchemy's ``executemany`` would send, without
  its work per row (a parameter dictionary made, read back and processed for every row).
- PostgreSQL, fewer rows: one ``INSERT INTO t (...) SELECT ... FROM unnest($1::type[], ...)
  ON CONFLICT ...``, each column's values one array parameter (sent in binary:
  :class:`BinaryArray`; :func:`_insert_arrays`), compiled once per table, columns, conflict
  clause and schema translation like the SQLite lane. An
  ``executemany`` ran (and, every statement being planned for its parameters, planned) the
  statement once per row: at 1,000 updates/s, 80-event batches of ``bench ingest``'s events,
  about 60% of the server's time for the projectors went to those per-row runs (issue 19). The
  arrays are cast to the columns' types without a length (``text[]`` for strings and encoded
  JSON), so a value too long or out of range fails the statement as the row would have.
- Otherwise (another database): SQLAlchemy's ``executemany`` of the statement.

JSON columns take their value already encoded (``str``, :func:`dumps`), so a value is encoded
once whatever the path (an ``executemany`` would otherwise run it through the column type's
serializer, and psycopg through its own adapter). ``None`` given to a JSON column is stored as
the JSON ``null`` text, as SQLAlchemy's ``JSON`` type stores it (``none_as_null=False``), so
rows written before and after this module agree. Every path runs in the caller's transaction
and names its table through the ``Table`` object (or, for the direct ``COPY`` and the SQLite
lane, through the connection's ``schema_translate_map``), so a rebuild into another schema
works the same.
"""

from __future__ import annotations

import json
import json.encoder
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

STAGE_MIN_ROWS = 1000
"""From how many rows PostgreSQL stages them with COPY (a rebuild's batches; below it, one
statement over arrays is as fast and creates no temporary table). At 200 (the threshold
against ``executemany``), the live projector's 300-event batches of ``bench ingest``'s events
took 41-45 ms a batch staged, 33 ms over arrays (server 74-78 -> 44-46 ms per 1,000 events);
1,000-event batches, 86-90 vs 84-88 ms (issue 19)."""

DialectInsert = postgresql.Insert | sqlite.Insert


@dataclass(frozen=True)
class OnConflict:
    """What an insert does with a row whose key (``keys``, a unique index; none: any) is there
    already: nothing, or, with ``update``, set those columns to the new row's, only where the
    stored row's ``newer`` column (when given) is lower than the new row's. Data, not a
    callable, so the SQLite lane can keep the statement it compiled for it."""

    keys: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    newer: str | None = None

    def finish(self, stmt: DialectInsert) -> Insert:
        """``stmt`` with this ``ON CONFLICT`` clause."""
        if not self.update:
            return stmt.on_conflict_do_nothing(index_elements=list(self.keys) or None)
        excluded = stmt.excluded
        newer = (None if self.newer is None
                 else stmt.table.c[self.newer] < excluded[self.newer])
        return stmt.on_conflict_do_update(index_elements=list(self.keys),
                                          set_={c: excluded[c] for c in self.update},
                                          where=newer)


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encoder = None if _make_c_encoder is None else _make_c_encoder(
    None, _refuse, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)


def dumps(value: Any) -> str:
    """A JSON column's value, encoded as SQLAlchemy's ``JSON`` type would have: the text of
    ``json.dumps(value)`` (by the C encoder ``json.dumps`` itself uses, made once rather than
    per call; no circular-reference check, projection values are flat)."""
    if _c_encoder is None:
        return json.dumps(value)
    return "".join(_c_encoder(value, 0))


def dialect_insert(dialect: Dialect | str, table: Table) -> DialectInsert:
    """``INSERT`` into ``table`` in ``dialect`` (or the dialect of that name: its ``ON
    CONFLICT`` methods)."""
    name = dialect if isinstance(dialect, str) else dialect.name
    return postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)


class BinaryArray(list[Any]):
    """A list psycopg sends as a binary array. Its text form (psycopg's default for a list)
    is made in Python, each element escaped by regular expressions: 2.3 ms of CPU for eight
    80-element arrays, 0.2 ms in binary (issue 19)."""


psycopg.adapters.register_dumper(BinaryArray, ListBinaryDumper)


class _BinaryArrayType(TypeDecorator[Sequence[Any]]):
    """``ARRAY`` of a column's type, its value bound as a :class:`BinaryArray`."""

    impl = ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        return BinaryArray


IDS = "ids"
"""The parameter :func:`among_ids` leaves to bind at execution (:func:`ids_value`)."""


def among_ids(dialect: str, column: ColumnElement[Any]) -> ColumnElement[bool]:
    """``column IN`` the values bound at execution as :data:`IDS` (:func:`ids_value`), in
    ``dialect``, with one parameter whatever their number: on PostgreSQL ``column =
    ANY(array)`` (sent in binary), on SQLite ``column IN (SELECT value FROM json_each(?))``,
    the values as one JSON array (no limit on bound parameters to chunk for, and no parameter
    per value for SQLAlchemy to make and process). For a statement built once and run for
    every batch: SQLAlchemy keys and compiles it once, where a statement built per batch is
    built, keyed and looked up again each time (issue 19)."""
    if dialect == "postgresql":
        return column == any_(ids_array(column.type))
    each = func.json_each(bindparam(IDS, type_=Text())).table_valued("value")
    return column.in_(select(each.c.value))


def ids_array(element: TypeEngine[Any]) -> BindParameter[Any]:
    """PostgreSQL: :data:`IDS` as an array of ``element`` (sent in binary)."""
    return bindparam(IDS, type_=_BinaryArrayType(element))


def ids_value(conn: Connection, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters of a statement built with :func:`among_ids` or :func:`ids_array`."""
    return {IDS: list(values) if conn.dialect.name == "postgresql" else dumps(list(values))}


def insert(conn: Connection, table: Table, columns: Sequence[str],
           rows: Iterable[Sequence[Any]], on_conflict: OnConflict | None = None, *,
           new: bool = False, size: int = 0) -> int:
    """Insert ``rows`` into ``table`` (``on_conflict``: what a row whose key is there does), in
    the caller's transaction; returns how many rows there were. JSON columns take encoded
    text (:func:`dumps`).

    ``new``: the caller has left out the rows the table already has, so a conflict can only
    come from another writer racing it. PostgreSQL then copies the rows straight into the
    table, under a savepoint, and goes the staged way with ``on_conflict`` only if that meets
    a unique violation. ``rows`` may then be an iterator that makes them as they are sent, with
    ``size`` saying about how many there will be: the server stores the first ones while the
    caller makes the next."""
    postgres = conn.dialect.name == "postgresql"
    if not isinstance(rows, Sequence):
        made: list[Sequence[Any]] = []
        if new and size >= STAGE_MIN_ROWS and postgres:
            if _copy_new(conn, table, columns, _keeping(rows, made)):
                return len(made)
            new = False  # a racing writer: the staged way
        rows = made + list(rows)  # (the rest, when the copy stopped early)
    if not rows:
        return 0
    if conn.dialect.name == "sqlite":
        return _executemany_sqlite(conn, table, columns, rows, on_conflict)
    if postgres and len(rows) >= STAGE_MIN_ROWS:
        if new and _copy_new(conn, table, columns, rows):
            return len(rows)
        stage = _stage(conn, table, columns, rows)
        stmt = dialect_insert(conn.dialect, table).from_select(list(columns), select(*stage.c))
        conn.execute(on_conflict.finish(stmt) if on_conflict else stmt)
        return len(rows)
    if postgres:
        return _insert_arrays(conn, table, columns, rows, on_conflict)
    return _executemany(conn, table, columns, rows, on_conflict)


def _executemany(conn: Connection, table: Table, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]], on_conflict: OnConflict | None) -> int:
    """SQLAlchemy's ``executemany`` of the statement, a parameter dictionary per row."""
    conn.execute(_statement(conn.dialect, table, columns, on_conflict),
                 [dict(zip(columns, row, strict=True)) for row in rows])
    return len(rows)


def _statement(dialect: Dialect, table: Table, columns: Sequence[str],
               on_conflict: OnConflict | None) -> Insert:
    """The ``INSERT`` an ``executemany`` of ``columns`` runs: JSON values go in as the text
    they are (PostgreSQL: cast to json)."""
    stmt: Insert = dialect_insert(dialect, table)
    encoded: dict[str, Any] = {
        c: (cast(bindparam(c, type_=Text()), table.c[c].type) if dialect.name == "postgresql"
            else bindparam(c, type_=Text()))
        for c in columns if isinstance(table.c[c].type, JSON)}
    if encoded:
        stmt = stmt.values(encoded)
    return on_conflict.finish(stmt) if on_conflict else stmt  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Compiled:
    """An ``INSERT`` compiled once: the SQLite lane's, or PostgreSQL's arrays (their processors
    by column)."""

    sql: str
    order: tuple[int, ...] | None
    """The row's indexes in the statement's parameter order (``None``: the row's own)."""
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    """``(parameter position, bind processor)`` of the parameters whose type has one."""


_compiled: dict[tuple[Any, ...], _Compiled] = {}


def _executemany_sqlite(conn: Connection, table: Table, columns: Sequence[str],
                        rows: Sequence[Sequence[Any]], on_conflict: OnConflict | None) -> int:
    """:func:`_executemany`'s statement and values, compiled once and sent as tuples."""
    translate = conn.get_execution_options().get("schema_translate_map")
    key = (table, tuple(columns), on_conflict,
           frozenset(translate.items()) if translate else None)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = _compile(conn.dialect, table, columns, on_conflict, translate)
    order, processors = found.order, found.processors
    if order is None and not processors:
        params = [tuple(row) for row in rows]
    else:
        params = []
        for row in rows:
            values = list(row) if order is None else [row[i] for i in order]
            for i, process in processors:
                values[i] = process(values[i])
            params.append(tuple(values))
    conn.exec_driver_sql(found.sql, params)
    return len(rows)


def _compile(dialect: Dialect, table: Table, columns: Sequence[str],
             on_conflict: OnConflict | None, translate: dict[Any, Any] | None) -> _Compiled:
    compiled = _statement(dialect, table, columns, on_conflict).compile(
        dialect=dialect, column_keys=list(columns), schema_translate_map=translate,
        render_schema_translate=bool(translate))
    names = list(compiled.positiontup or ())
    where = {c: i for i, c in enumerate(columns)}
    order = tuple(where[name] for name in names)  # KeyError: a parameter that is no column
    processors = []
    for position, name in enumerate(names):
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((position, process))
    return _Compiled(compiled.string, None if order == tuple(range(len(columns))) else order,
                     tuple(processors))


def _insert_arrays(conn: Connection, table: Table, columns: Sequence[str],
                   rows: Sequence[Sequence[Any]], on_conflict: OnConflict | None) -> int:
    """PostgreSQL: every row in one ``INSERT ... SELECT ... FROM unnest(arrays)``, rows leaving
    ``unnest`` in their order (a serial column numbers them as an ``executemany`` would)."""
    translate = conn.get_execution_options().get("schema_translate_map")
    key = ("arrays", table, tuple(columns), on_conflict,
           frozenset(translate.items()) if translate else None)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = _compile_arrays(conn.dialect, table, columns, on_conflict,
                                                 translate)
    values = [BinaryArray(column) for column in zip(*rows, strict=True)]
    for i, process in found.processors:
        values[i] = BinaryArray(process(v) for v in values[i])
    conn.exec_driver_sql(found.sql, {f"v{i}": v for i, v in enumerate(values)})
    return len(rows)


def _compile_arrays(dialect: Dialect, table: Table, columns: Sequence[str],
                    on_conflict: OnConflict | None,
                    translate: dict[Any, Any] | None) -> _Compiled:
    """:func:`_insert_arrays`'s statement; ``processors`` by column index."""
    def element(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
        # no length: a value too long fails on the column, as an inserted row's would
        return Text() if isinstance(column_type, JSON | String) else column_type

    types = [table.c[c].type for c in columns]
    arrays = func.unnest(*(bindparam(f"v{i}", type_=ARRAY(element(t)))
                           for i, t in enumerate(types))).table_valued(*columns).render_derived()
    select_ = select(*(cast(arrays.c[c], t) if isinstance(t, JSON) else arrays.c[c]
                       for c, t in zip(columns, types, strict=True)))
    stmt = dialect_insert(dialect, table).from_select(list(columns), select_)
    compiled = (on_conflict.finish(stmt) if on_conflict else stmt).compile(
        dialect=dialect, schema_translate_map=translate,
        render_schema_translate=bool(translate))
    processors = []
    for i, column_type in enumerate(types):
        process = (None if isinstance(column_type, JSON)
                   else column_type.dialect_impl(dialect).bind_processor(dialect))
        if process is not None:
            processors.append((i, process))
    return _Compiled(compiled.string, None, tuple(processors))


def _keeping(rows: Iterable[Sequence[Any]], made: list[Sequence[Any]],
             ) -> Iterator[Sequence[Any]]:
    for row in rows:
        made.append(row)
        yield row


def _copy_new(conn: Connection, table: Table, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> bool:
    """``COPY`` the rows into ``table`` itself, under a savepoint; ``False`` (and nothing
    written) when one of them is there already."""
    stage = _stage_for(conn.dialect, table, tuple(columns))
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    quote = conn.dialect.identifier_preparer.quote
    target = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
    savepoint = conn.begin_nested()
    try:
        _copy(conn, f"COPY {target} ({stage.names}) FROM STDIN{stage.format}",
              stage.binary_types, rows)
    except psycopg.errors.UniqueViolation:
        savepoint.rollback()
        return False
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return True


def _stage(conn: Connection, table: Table, columns: Sequence[str],
           rows: Sequence[Sequence[Any]]) -> Table:
    """The transaction's temporary table for ``table``'s ``columns``, holding ``rows`` (copied
    in; emptied first, in case this transaction staged the same columns before)."""
    stage = _stage_for(conn.dialect, table, tuple(columns))
    _copy(conn, stage.copy, stage.binary_types, rows, before=stage.prepare)
    return stage.table


def _copy(conn: Connection, sql: str, binary_types: list[str] | None,
          rows: Iterable[Sequence[Any]], before: str | None = None) -> None:
    """Run ``COPY ... FROM STDIN`` (``before`` it, a statement) on the connection's psycopg
    connection, in its transaction."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur:
        if before is not None:
            cur.execute(before)
        with cur.copy(sql) as copy:
            if binary_types is not None:
                copy.set_types(binary_types)
            for row in rows:
                copy.write_row(row)


@dataclass(frozen=True)
class _Stage:
    table: Table
    """The temporary table, for ``INSERT ... SELECT`` (one ``Table`` per column list, so
    SQLAlchemy compiles each statement once)."""
    prepare: str
    """Creates it for the transaction (``ON COMMIT DROP``), or empties it."""
    copy: str
    names: str
    """The columns, quoted, for a ``COPY``."""
    format: str
    """What ends a ``COPY`` of them (the binary format's option, or nothing)."""
    binary_types: list[str] | None
    """psycopg's names of the types the values are sent as, in binary ``COPY`` (``None``: a
    column type this does not map, so text ``COPY``)."""


_stages: dict[tuple[str, tuple[str, ...]], _Stage] = {}


def _stage_for(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Stage:
    key = (table.name, columns)
    found = _stages.get(key)
    if found is None:
        name = f"stage_{table.name}_{zlib.crc32(repr(key).encode()):08x}"
        quote = dialect.identifier_preparer.quote
        stage = Table(name, MetaData(), *(Column(c, table.c[c].type) for c in columns),
                      schema="pg_temp")  # a schema of its own: schema_translate_map leaves it
        definition = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}"
                               for c in columns)
        types = [_binary_type(table.c[c].type) for c in columns]
        binary = None if None in types else [t for t in types if t is not None]
        names = ", ".join(quote(c) for c in columns)
        ending = " (FORMAT BINARY)" if binary is not None else ""
        found = _stages[key] = _Stage(
            stage,
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)} ({definition}) "
            f"ON COMMIT DROP; TRUNCATE {quote(name)}",
            f"COPY {quote(name)} ({names}) FROM STDIN{ending}", names, ending, binary)
    return found


def _binary_type(column_type: TypeEngine[Any]) -> str | None:
    """How a column's values go in binary ``COPY``: text for strings and for JSON (the
    server's binary input of ``json`` is its text), else the type's own binary form."""
    match column_type:
        case JSON() | String():
            return "text"
        case Boolean():
            return "bool"
        case BigInteger():
            return "int8"
        case SmallInteger():
            return "int2"
        case Integer():
            return "int4"
        case Float():
            return "float8"
        case DateTime():
            return "timestamptz" if column_type.timezone else "timestamp"
        case Date():
            return "date"
    return None
