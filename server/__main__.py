"""Command line entry point: `python -m server --host H --port P`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from server.app import DEFAULT_GRACE_SECONDS, ServerConfig, serve
from server.catalog import EMBEDDED_CATALOG, CatalogError
from server.ops import admission as limits
from server.ops import security
from server.ops.logs import FORMATS
from server.ops.logs import configure as configure_logging
from server.workers import DEFAULT_WORKERS, run_workers

_LOGGER = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
"""How long a thread may hold the GIL while another waits (Python's default: 5 ms)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The server's options; every one has a working default."""
    parser = argparse.ArgumentParser(
        prog="python -m server", description="Serve the WhatsApp delivery-error catalog over gRPC."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=50051, help="port to bind (default 50051)")
    parser.add_argument(
        "--catalog", type=Path, default=EMBEDDED_CATALOG, help="catalog file (default: embedded)"
    )
    parser.add_argument("--overlay", type=Path, help="a second catalog layered over the first")
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help=f"seconds in-flight calls get on SIGTERM (default {DEFAULT_GRACE_SECONDS:g})",
    )
    parser.add_argument("--no-reflection", action="store_true", help="turn server reflection off")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"pre-forked processes sharing the port with SO_REUSEPORT (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=FORMATS,
        help="json: one object per line; text: for people; auto (default): text on a "
        "terminal, json otherwise",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics on this port (default: off; 0 picks a free port)",
    )
    parser.add_argument("--metrics-host", help="address for /metrics (default: the --host value)")
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=0.0,
        help="poll the catalog files every N seconds and reload on change "
        "(default 0: off; SIGHUP always reloads)",
    )
    limits.add_arguments(parser)
    security.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the server until a signal stops it."""
    args = parse_args(argv)
    # Hand the GIL to gRPC's poller thread within 0.5 ms instead of 5 ms, so a call
    # that arrived waits less behind a busy handler (bench/README.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    configure_logging(args.log_level, args.log_format)
    try:
        secure = security.settings_from_args(args)
    except security.SecurityConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.max_concurrent_rpcs < 0:
        print("error: --max-concurrent-rpcs must be 0 (no limit) or more", file=sys.stderr)
        return 2
    _LOGGER.info("%s; at most %s calls in flight", secure.describe(), args.max_concurrent_rpcs)
    config = ServerConfig(
        catalog_path=args.catalog,
        overlay_path=args.overlay,
        reflection=not args.no_reflection,
        tls=secure.tls,
        token=secure.token,
        max_concurrent_rpcs=args.max_concurrent_rpcs or None,
    )
    config.metrics_port = args.metrics_port
    config.metrics_host = args.metrics_host or args.host
    config.watch_interval = args.watch_interval
    host = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.workers > 1:
            return run_workers(host, args.port, config, args.grace, args.workers)
        asyncio.run(serve(f"{host}:{args.port}", config, grace=args.grace))
    except CatalogError as exc:
        print(f"error: invalid catalog: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
