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
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import grpc

from whatsapp_errors.client.cli import tables as fmt
from whatsapp_errors.client.cli.arguments import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
    build_parser,
    check,
    config_from,
)
from whatsapp_errors.client.cli.files import classify_file, count_lines, read_items
from whatsapp_errors.client.config import ConfigError
from whatsapp_errors.client.environment import target_from_env
from whatsapp_errors.client.status import describe, error_metadata
from whatsapp_errors.client.stream_state import DEFAULT_WINDOW
from whatsapp_errors.client.sync_client import ErrorClient
from whatsapp_errors.v1 import error_catalog_pb2 as pb


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
        _print("")
        _print(fmt.provenance_lines(response.errors))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check(parser, args)
    try:
        config = config_from(args)
        with ErrorClient(config) as client:
            return COMMANDS[args.command](client, args)
    except (UsageError, ConfigError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except grpc.RpcError as exc:
        if hasattr(exc, "code") and exc.code() == grpc.StatusCode.UNAVAILABLE:
            _error(f"cannot reach {args.target or target_from_env()}: {describe(exc)}")
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
