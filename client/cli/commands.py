"""`waerr`: the delivery-error service from a terminal.

    waerr lookup 131047 132001          waerr classify webhook.json   (or - for stdin)
    waerr list --category quota         waerr classify --code 131047 / --text "..."
    waerr search "rate limit"           waerr classify --stream in.jsonl --out out.jsonl
    waerr categories                    waerr summarize in.jsonl

Exit codes: 0 ok; 1 some items could not be classified or looked up, or the
server could not be reached; 2 usage error. Every error is one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO, NoReturn

import grpc

from client.cli import tables as fmt
from client.cli.files import classify_file, count_lines, read_items
from client.config import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT_SECONDS,
    ClientConfig,
    ConfigError,
    grpc_target,
    read_token,
)
from client.errors import describe, error_metadata
from client.inputs import DEFAULT_BATCH_ITEMS, MAX_BATCH_ITEMS
from client.sync_client import ErrorClient
from client.sync_stream import DEFAULT_WINDOW
from whatsapp.errors.v1 import error_catalog_pb2 as pb

_LOGGER = logging.getLogger(__name__)

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
        "--tls-ca", type=Path, default=default(None), help="CA bundle (turns TLS on)"
    )
    group.add_argument(
        "--tls-cert", type=Path, default=default(None), help="client certificate (mutual TLS)"
    )
    group.add_argument("--tls-key", type=Path, default=default(None), help="client private key")
    group.add_argument(
        "--tls-server-name",
        default=default(None),
        help="name to check the server certificate against (when --target is an IP)",
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


def _config(args: argparse.Namespace) -> ClientConfig:
    target = args.target or os.environ.get("WAERR_TARGET") or DEFAULT_TARGET
    grpc_target(target)  # a malformed target is a usage error, reported before connecting
    token = read_token(args.token_file) if args.token_file else None
    if token is None:
        token = os.environ.get("WAERR_TOKEN", "").strip() or None
    return ClientConfig(
        target=target,
        timeout=args.timeout,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
        token=token,
    )


def _open_input(name: str, stack: ExitStack) -> BinaryIO:
    if name == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(Path(name).open("rb"))
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


# ---- commands -------------------------------------------------------------------


def cmd_lookup(client: ErrorClient, args: argparse.Namespace) -> int:
    """Entries by code; unknown codes are listed on stderr (exit 1), known ones still shown."""
    codes: list[int] = args.codes
    missing: list[int] = []
    try:
        response = client.get_errors(codes)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        listed = error_metadata(exc).get("codes", "")
        missing = [int(c) for c in listed.split(",") if c.strip().isdigit()]
        known = [code for code in codes if code not in missing]
        response = client.get_errors(known) if known else pb.BatchGetErrorsResponse()
    if args.json:
        _print(fmt.message_json(response))
    elif response.errors:
        _print(fmt.errors_table(response.errors, with_action=True))
    if missing:
        codes_text = ", ".join(str(c) for c in dict.fromkeys(missing))
        _error(
            f"no catalog entry for code {codes_text} "
            f"(classify still answers for unknown codes: waerr classify --code {missing[0]})"
        )
        return EXIT_FAILED
    return EXIT_OK


def cmd_list(client: ErrorClient, args: argparse.Namespace) -> int:
    """Every matching entry, all pages."""
    query = " ".join(args.query) if isinstance(args.query, list) else args.query
    merged = pb.ListErrorsResponse()
    token = ""
    while True:
        page = client.list_errors_page(
            category=args.category or pb.CATEGORY_UNSPECIFIED,
            source=getattr(args, "source", None) or pb.SOURCE_UNSPECIFIED,
            query=query,
            page_size=500,
            page_token=token,
        )
        merged.errors.extend(page.errors)
        merged.total_size = page.total_size
        merged.catalog_version = page.catalog_version
        token = page.next_page_token
        if not token:
            break
    if args.json:
        _print(fmt.message_json(merged))
        return EXIT_OK
    if merged.errors:
        _print(fmt.errors_table(merged.errors, with_action=False))
    _print(f"{len(merged.errors)} entries (catalog {merged.catalog_version})")
    return EXIT_OK


def cmd_categories(client: ErrorClient, args: argparse.Namespace) -> int:
    """The document's categories."""
    response = client.categories()
    _print(fmt.message_json(response) if args.json else fmt.categories_table(response.categories))
    return EXIT_OK


def cmd_classify(client: ErrorClient, args: argparse.Namespace) -> int:
    """One failure, or a JSONL file streamed with --stream."""
    if args.stream:
        return _classify_stream(client, args)
    value: int | str | bytes
    if args.code is not None:
        value = args.code
    elif args.text is not None:
        value = args.text
    else:
        with ExitStack() as stack:
            value = _open_input(args.file, stack).read()
        if not value.strip():
            raise UsageError(f"{'stdin' if args.file == '-' else args.file} is empty")
    try:
        response = client.classify(value)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        _error(f"could not classify the input: {describe(exc)}")
        return EXIT_FAILED
    if args.json:
        _print(fmt.message_json(response))
        return EXIT_OK
    if not response.classifications:
        _print(f"no errors in the input (catalog {response.catalog_version})")
        return EXIT_OK
    _print(fmt.classifications_table(response.classifications))
    seen: dict[int, str] = {}
    for c in response.classifications:
        seen.setdefault(c.error_info.code, fmt.english_action(c.error_info))
    _print("")
    _print(fmt.table(["CODE", "RECOMMENDED ACTION"], seen.items()))
    _print(f"(catalog {response.catalog_version})")
    return EXIT_OK


def _classify_stream(client: ErrorClient, args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        source = _open_input(args.file, stack)
        progress = sys.stderr.isatty() and not args.no_progress
        total = count_lines(Path(args.file)) if progress and args.file != "-" else None
        if args.out is None:
            out: BinaryIO = sys.stdout.buffer
        else:
            try:
                out = stack.enter_context(args.out.open("wb"))
            except OSError as exc:
                raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
        tally = None
        try:
            tally = classify_file(
                client,
                source,
                out,
                total=total,
                progress=progress,
                batch_size=args.batch_size,
                window=DEFAULT_WINDOW,
            )
        finally:
            if tally is not None:
                sys.stderr.write(tally.report() + "\n")
    return EXIT_FAILED if tally.failed else EXIT_OK


def cmd_summarize(client: ErrorClient, args: argparse.Namespace) -> int:
    """One report for a JSONL file."""
    with ExitStack() as stack:
        summary = client.summarize(read_items(_open_input(args.file, stack)))
    if args.json:
        _print(fmt.message_json(summary))
    else:
        _print(fmt.summary_tables(summary))
        _print(f"(catalog {summary.catalog_version})")
    return EXIT_FAILED if summary.invalid_items else EXIT_OK


COMMANDS: dict[str, Callable[[ErrorClient, argparse.Namespace], int]] = {
    "lookup": cmd_lookup,
    "list": cmd_list,
    "search": cmd_list,
    "categories": cmd_categories,
    "classify": cmd_classify,
    "summarize": cmd_summarize,
}


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: {' '.join(message.split())}\n")


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    try:
        config = _config(args)
        with ErrorClient(config) as client:
            return COMMANDS[args.command](client, args)
    except (UsageError, ConfigError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except grpc.RpcError as exc:
        if hasattr(exc, "code") and exc.code() == grpc.StatusCode.UNAVAILABLE:
            _error(
                f"cannot reach {args.target or os.environ.get('WAERR_TARGET') or DEFAULT_TARGET}: "
                f"{describe(exc)}"
            )
        else:
            _error(f"{args.command} failed: {describe(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`waerr ... | head`); don't let Python complain at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
