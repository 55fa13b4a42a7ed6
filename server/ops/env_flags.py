"""Every command-line flag can also come from a `WAERR_*` environment variable.

Containers and twelve-factor deployments configure through the environment,
so `--metrics-port 9464` may equally be `WAERR_METRICS_PORT=9464`: the name
is `WAERR_` and the flag's name in capitals with `-` as `_`. A flag given on
the command line wins over its variable. Values are read as the flag reads
its argument; a switch (`--insecure`) takes 1/true/yes/on or 0/false/no/off.
A value that does not parse is an error naming the variable.

The TLS flags are the exception: `--tls-cert` reads WAERR_SERVER_TLS_CERT.
The client reads WAERR_TLS_CERT/KEY/CA as *its* certificate and CA
(client/environment.py), and a pod that runs both (a sidecar, a health
probe, `waerr` in the container) must be able to set each side apart.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

PREFIX = "WAERR_"
SERVER_PREFIX = "WAERR_SERVER_"
"""For the flags whose client-side variable means the other end (SERVER_SIDE)."""
SERVER_SIDE = ("tls-",)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_SKIPPED = (argparse._HelpAction, argparse._VersionAction)


def env_name(action: argparse.Action) -> str:
    """A flag's variable: `--port` reads WAERR_PORT, `--tls-key` WAERR_SERVER_TLS_KEY."""
    flag = max(action.option_strings, key=len).lstrip("-")
    prefix = SERVER_PREFIX if flag.startswith(SERVER_SIDE) else PREFIX
    return prefix + flag.upper().replace("-", "_")


def flag_variables(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(flag, variable) for every flag that reads one, in the parser's order."""
    return [
        (max(action.option_strings, key=len), env_name(action))
        for action in parser._actions
        if action.option_strings and not isinstance(action, _SKIPPED)
    ]


def apply_env_defaults(
    parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None
) -> None:
    """Sets each flag's default from its variable, when set; parser.error() for a bad value."""
    environ = os.environ if environ is None else environ
    for action in parser._actions:
        if not action.option_strings or isinstance(action, _SKIPPED):
            continue
        name = env_name(action)
        raw = environ.get(name)
        if raw is None:
            continue
        flag = max(action.option_strings, key=len)
        parser.set_defaults(**{action.dest: _value(parser, action, name, flag, raw)})


def _value(
    parser: argparse.ArgumentParser, action: argparse.Action, name: str, flag: str, raw: str
) -> object:
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            parser.error(f"{name}={raw!r}: {flag} is a switch; use 1/true/yes/on or 0/false/no/off")
        on = word in _TRUE
        return on if isinstance(action, argparse._StoreTrueAction) else not on
    convert = action.type if callable(action.type) else str
    try:
        value = convert(raw)
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        parser.error(f"{name}={raw!r}: not a valid value for {flag} ({exc})")
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        parser.error(f"{name}={raw!r}: {flag} must be one of {choices}")
    return value
