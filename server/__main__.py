"""Command line entry point: `python -m whatsapp_errors.server --host H --port P`.

Every flag also reads a `WAERR_*` variable (server/ops/env_flags.py). A
start-up failure (a bad flag, TLS files that do not go together, a port in
use, an invalid catalog) is one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from whatsapp_errors.server.app import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_STREAMS_PER_CONNECTION,
    ServerConfig,
    serve,
)
from whatsapp_errors.server.catalog import EMBEDDED_CATALOG, CatalogError
from whatsapp_errors.server.ops import admission as limits
from whatsapp_errors.server.ops import malloc_tuning, native_stderr, security
from whatsapp_errors.server.ops.arrival import DEFAULT_REQUEST_TIMEOUT
from whatsapp_errors.server.ops.env_flags import apply_env_defaults
from whatsapp_errors.server.ops.logs import FORMATS, resolve_format
from whatsapp_errors.server.ops.logs import configure as configure_logging
from whatsapp_errors.server.workers import DEFAULT_WORKERS, run_workers

_LOGGER = logging.getLogger(__name__)

DISTRIBUTION = "whatsapp-errors-server"
SWITCH_INTERVAL_S = 0.0005
"""How long a thread may hold the GIL while another waits (Python's default: 5 ms)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def version() -> str:
    """The installed package's version ("unknown" when run from a bare checkout)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The server's options; every one has a working default."""
    parser = _Parser(
        prog="python -m whatsapp_errors.server",
        description="Serve the WhatsApp delivery-error catalog over gRPC. Every flag also "
        "reads WAERR_<FLAG> (e.g. WAERR_METRICS_PORT); the command line wins.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
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
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address for /metrics (default 127.0.0.1: give 0.0.0.0 for a scraper elsewhere)",
    )
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=0.0,
        help="poll the catalog files every N seconds and reload on change "
        "(default 0: off; SIGHUP always reloads)",
    )
    limits.add_arguments(parser)
    parser.add_argument(
        "--max-streams-per-connection",
        type=int,
        default=DEFAULT_MAX_STREAMS_PER_CONNECTION,
        metavar="N",
        help="HTTP/2 streams one connection may hold open "
        f"(default {DEFAULT_MAX_STREAMS_PER_CONNECTION})",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="a unary call must deliver its request within this long "
        f"(default {DEFAULT_REQUEST_TIMEOUT:g}; 0: no deadline)",
    )
    security.add_arguments(parser)
    return parser


def parse_args(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """The options from `argv`, with WAERR_* variables as the defaults."""
    parser = build_parser()
    apply_env_defaults(parser, environ)
    args = parser.parse_args(argv)
    problem = _out_of_range(args)
    if problem:
        parser.error(problem)
    return args


def _out_of_range(args: argparse.Namespace) -> str | None:
    if args.max_concurrent_rpcs < 0:
        return "--max-concurrent-rpcs must be 0 (no limit) or more"
    if args.workers < 1:
        return "--workers must be at least 1"
    if args.max_streams_per_connection < 1:
        return "--max-streams-per-connection must be at least 1"
    if args.max_health_watches < 0:
        return "--max-health-watches must be 0 or more"
    for flag in ("grace", "request_timeout", "stream_idle_timeout", "watch_interval"):
        if getattr(args, flag) < 0:
            return f"--{flag.replace('_', '-')} must not be negative"
    return None


def config_from_args(args: argparse.Namespace, secure: security.SecuritySettings) -> ServerConfig:
    """What the server is built from, given the parsed flags and the security settings."""
    return ServerConfig(
        catalog_path=args.catalog,
        overlay_path=args.overlay,
        reflection=not args.no_reflection,
        tls=secure.tls,
        token=secure.token,
        max_concurrent_rpcs=args.max_concurrent_rpcs or None,
        max_streams_per_connection=args.max_streams_per_connection,
        stream_idle_timeout=args.stream_idle_timeout,
        request_timeout=args.request_timeout,
        max_health_watches=args.max_health_watches,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        metrics_token=secure.metrics_token,
        watch_interval=args.watch_interval,
    )


def main(argv: list[str] | None = None) -> int:
    """Runs the server until a signal stops it; 2 (and one line) if it cannot start."""
    args = parse_args(argv)
    # Hand the GIL to gRPC's poller thread within 0.5 ms instead of 5 ms, so a call
    # that arrived waits less behind a busy handler (bench/README.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    malloc_tuning.fix_mmap_threshold()  # freed big buffers leave RSS (server/ops/malloc_tuning.py)
    if resolve_format(args.log_format, sys.stderr) == "json":  # the C core's lines too
        configure_logging(args.log_level, "json", native_stderr.route())
    else:
        configure_logging(args.log_level, args.log_format)
    try:
        secure = security.settings_from_args(args)
    except security.SecurityConfigError as exc:
        return _fail(str(exc))
    _LOGGER.info("%s; at most %s calls in flight", secure.describe(), args.max_concurrent_rpcs)
    config = config_from_args(args, secure)
    open_metrics = secure.metrics_token is None and args.metrics_port is not None
    if open_metrics and not security.is_loopback(args.metrics_host):
        _LOGGER.warning(
            "/metrics on %s answers anyone: give --metrics-token-file to require a token",
            args.metrics_host,
        )
    host = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
    try:
        if args.workers > 1:
            return run_workers(host, args.port, config, args.grace, args.workers)
        asyncio.run(serve(f"{host}:{args.port}", config, grace=args.grace))
    except CatalogError as exc:
        return _fail(f"invalid catalog: {exc}")
    except OSError as exc:
        return _fail(str(exc))
    return 0


def _fail(message: str) -> int:
    """One plain line for the person or the orchestrator that started us, even in JSON mode."""
    print(f"error: {message}", file=native_stderr.console())
    return 2


if __name__ == "__main__":
    sys.exit(main())
