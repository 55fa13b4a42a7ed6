"""`waerr`'s command line: the parser, its argument types, and the client config it gives.

Every usage error is one line on stderr and exit 2, before anything connects.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from whatsapp_errors.client import environment as env
from whatsapp_errors.client.cli import tables as fmt
from whatsapp_errors.client.config import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT_SECONDS,
    ClientConfig,
    grpc_target,
    read_token,
)
from whatsapp_errors.client.inputs import DEFAULT_BATCH_ITEMS, MAX_BATCH_ITEMS
from whatsapp_errors.client.version import version
from whatsapp_errors.v1 import error_catalog_pb2 as pb

PROG = "waerr"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A wrong argument found after parsing (unknown category, missing file)."""


class _Parser(argparse.ArgumentParser):
    """Reports a usage error in one line (the usage text is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _enum_choice(enum: object, kind: str) -> Callable[[str], int]:
    """An argparse type accepting `quota`, `QUOTA`, `rate-limit`, `CATEGORY_RATE_LIMIT`."""
    names = {
        fmt.enum_label(enum, value): value
        for value in enum.values()  # type: ignore[attr-defined]
        if value
    }

    prefix = enum.Name(0).removesuffix("UNSPECIFIED").lower()  # type: ignore[attr-defined]
    squashed = {name.replace("_", ""): value for name, value in names.items()}

    def parse(text: str) -> int:
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        key = key.removeprefix(prefix).removesuffix("_errors")  # "Rate Limit Errors" works too
        value: int | None = squashed.get(key.replace("_", ""))
        if value is not None:
            return value
        raise argparse.ArgumentTypeError(
            f"unknown {kind} {text!r}; choose from {', '.join(sorted(names))}"
        )

    return parse


def _code(text: str) -> int:
    try:
        code = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an error code: {text!r}") from None
    if code < 0:
        raise argparse.ArgumentTypeError(f"error codes are not negative: {text}")
    return code


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text}")
    return value


def _batch_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_BATCH_ITEMS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_BATCH_ITEMS}: {text}")
    return int(text)


def _connection_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Global options; on subcommands too (suppressed defaults), so they go anywhere."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--target",
        default=default(None),
        help=f"host:port, a comma-separated list (round-robin) or dns:///host:port "
        f"(default: $WAERR_TARGET or {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--timeout",
        type=_positive,
        default=default(DEFAULT_TIMEOUT_SECONDS),
        help=f"deadline of each call in seconds; for --stream, of each batch's answer "
        f"(default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    group.add_argument(
        "--tls-ca",
        type=Path,
        default=default(None),
        help=f"CA bundle (turns TLS on; default: ${env.TLS_CA})",
    )
    group.add_argument(
        "--tls-cert",
        type=Path,
        default=default(None),
        help=f"client certificate (mutual TLS; default: ${env.TLS_CERT})",
    )
    group.add_argument(
        "--tls-key",
        type=Path,
        default=default(None),
        help=f"client private key (default: ${env.TLS_KEY})",
    )
    group.add_argument(
        "--tls-server-name",
        default=default(None),
        help=f"name to check the server certificate against when --target is an IP "
        f"(default: ${env.TLS_SERVER_NAME})",
    )
    group.add_argument(
        "--token-file",
        type=Path,
        default=default(None),
        help="file holding a bearer token (default: $WAERR_TOKEN)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print proto3 JSON instead of tables",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `waerr` command line."""
    parser = _Parser(
        prog=PROG,
        description="Look up WhatsApp delivery-error codes and classify failed webhooks.",
        epilog="Exit codes: 0 ok, 1 items not classified or server unreachable, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _connection_options(parser, defaults=True)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    category = _enum_choice(pb.Category, "category")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _connection_options(sub, defaults=False)
        return sub

    lookup = command("lookup", "Show catalog entries by code.")
    lookup.add_argument("codes", nargs="+", type=_code, metavar="CODE")

    listing = command("list", "List catalog entries, optionally filtered.")
    listing.add_argument("--category", type=category, help="e.g. quota, rate_limit, template")
    listing.add_argument(
        "--source", type=_enum_choice(pb.Source, "source"), help="provider_document, meta, overlay"
    )
    listing.add_argument("--query", default="", help="words that must all appear")

    search = command("search", "Find catalog entries whose text holds every word.")
    search.add_argument("query", nargs="+", metavar="WORDS")
    search.add_argument("--category", type=category, help="only this category")

    command("categories", "List the document's categories with their sizes.")

    classify = command("classify", "Classify a failure: a JSON body, a code or an error text.")
    classify.add_argument(
        "file", nargs="?", metavar="FILE", help="JSON body (or JSONL with --stream); - for stdin"
    )
    what = classify.add_mutually_exclusive_group()
    what.add_argument("--code", type=_code, help="a bare error code")
    what.add_argument("--text", help='an error text, e.g. "cURL error 28: ..."')
    classify.add_argument(
        "--stream",
        action="store_true",
        help="FILE has one payload per line: stream them, one JSON result line each",
    )
    classify.add_argument(
        "--out", type=Path, help="with --stream: write results here (default stdout)"
    )
    classify.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH_ITEMS,
        help=f"with --stream: items per request (default {DEFAULT_BATCH_ITEMS})",
    )
    classify.add_argument(
        "--no-progress", action="store_true", help="with --stream: no progress bar on a terminal"
    )

    summarize = command("summarize", "Count the errors of a JSONL file by category, action, code.")
    summarize.add_argument("file", metavar="FILE", help="one payload per line; - for stdin")
    return parser


def config_from(args: argparse.Namespace) -> ClientConfig:
    """The client configuration the flags ask for, WAERR_* variables filling the rest.

    The same variables as ErrorClient.from_env() (whatsapp_errors.client.environment); a flag wins.
    """
    config = env.config_from_env(
        target=args.target,
        timeout=args.timeout,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
        token=read_token(args.token_file) if args.token_file else None,
    )
    grpc_target(config.target)  # a malformed target is a usage error, reported before connecting
    return config


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations argparse cannot express."""
    if args.command == "search":
        args.source = None
    if args.command != "classify":
        return
    given = [args.file is not None, args.code is not None, args.text is not None]
    if sum(given) != 1:
        parser.error("classify needs exactly one of FILE (or -), --code N, --text TEXT")
    if args.stream and args.file is None:
        parser.error("classify --stream needs a FILE (or - for stdin)")
    if args.out is not None and not args.stream:
        parser.error("--out goes with --stream")
