"""Run the simulator on its own: ``python -m simulators.salesforce --port 8443``.

Prints the instance URL, the CA file clients must trust and the integration login, then
serves until Ctrl-C. The driver's endpoints are under ``{base_url}/sim/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from simulators.salesforce.server import SalesforceSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.salesforce",
                                     description="A simulated Salesforce REST API over HTTPS.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--api-version", default="68.0")
    parser.add_argument("--daily-api-limit", type=int, default=15000)
    parser.add_argument("--cert-dir", default=None,
                        help="keep the generated CA and certificate here (reused)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP (driver use only)")
    parser.add_argument("--schema", choices=("telecase", "standard"), default="telecase",
                        help="standard: only Salesforce's standard schema (the strict org)")
    parser.add_argument("--no-soap-login", action="store_true",
                        help="SOAP login() disabled, as in orgs created from Winter '26")
    parser.add_argument("--my-domain", default=None, help='e.g. "acme.my"')
    parser.add_argument("--jwt-certificate", default=None,
                        help="PEM certificate file uploaded for the JWT bearer flow")
    parser.add_argument("--client-credentials", action="store_true",
                        help="enable the client credentials flow (run as the integration user)")
    parser.add_argument("--assignment-queue", default=None,
                        help="an active Case assignment rule giving Cases to this new queue")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator, print where it is and how to log in, wait until cancelled."""
    simulator = SalesforceSimulator(host=args.host, port=args.port,
                                    api_version=args.api_version,
                                    daily_api_limit=args.daily_api_limit,
                                    tls=not args.no_tls, cert_dir=args.cert_dir,
                                    schema=args.schema, soap_login=not args.no_soap_login,
                                    my_domain=args.my_domain,
                                    jwt_certificate=_read(args.jwt_certificate),
                                    client_credentials=args.client_credentials,
                                    case_assignment_queue=args.assignment_queue)
    await simulator.start()
    print(simulator.base_url, flush=True)
    if simulator.tls:
        print(f"CA file:         {simulator.ca_file}", flush=True)
    print(f"username:        {simulator.username}\npassword:        {simulator.password}\n"
          f"security token:  {simulator.security_token}\n"
          f"consumer key:    {simulator.consumer_key}\n"
          f"consumer secret: {simulator.consumer_secret}\n"
          f"driver:          {simulator.base_url}/sim/", flush=True)
    stopped = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        await simulator.stop()


def _read(path: str | None) -> str | None:
    return None if path is None else Path(path).read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
