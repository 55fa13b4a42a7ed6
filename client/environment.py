"""Client settings from WAERR_* environment variables, read the same way by every entry point.

`ErrorClient.from_env()`, `AsyncErrorClient.from_env()` and the `waerr` CLI read
these names, so a deployment sets them once (twelve-factor) and every client in
the container reaches the same service the same way:

    WAERR_TARGET            host:port, a comma-separated list, or a gRPC URI (dns:///...)
    WAERR_TOKEN             bearer token sent on every call
    WAERR_TLS_CA            CA bundle to verify the server with (turns TLS on)
    WAERR_TLS_CERT          client certificate, for mutual TLS (with WAERR_TLS_KEY)
    WAERR_TLS_KEY           the client certificate's private key
    WAERR_TLS_SERVER_NAME   name to check the server's certificate against

An empty variable counts as unset. Arguments given in code (or flags on the
command line) win over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from whatsapp_errors.client.config import DEFAULT_TARGET, ClientConfig

TARGET = "WAERR_TARGET"
TOKEN = "WAERR_TOKEN"
TLS_CA = "WAERR_TLS_CA"
TLS_CERT = "WAERR_TLS_CERT"
TLS_KEY = "WAERR_TLS_KEY"
TLS_SERVER_NAME = "WAERR_TLS_SERVER_NAME"

_PATHS = {"tls_ca": TLS_CA, "tls_cert": TLS_CERT, "tls_key": TLS_KEY}
_TEXTS = {"target": TARGET, "token": TOKEN, "tls_server_name": TLS_SERVER_NAME}


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def target_from_env(environ: Mapping[str, str] | None = None) -> str:
    """WAERR_TARGET, or the default local address."""
    return _get(os.environ if environ is None else environ, TARGET) or DEFAULT_TARGET


def config_from_env(environ: Mapping[str, str] | None = None, **options: Any) -> ClientConfig:
    """A ClientConfig from WAERR_* variables; `options` (ClientConfig fields) win over them.

    An option given as None for one of the variables' fields (target, token,
    tls_ca, tls_cert, tls_key, tls_server_name) means "not given": the
    variable is used.
    """
    environ = os.environ if environ is None else environ
    fields: dict[str, Any] = {}
    for field, name in _TEXTS.items():
        fields[field] = _get(environ, name)
    for field, name in _PATHS.items():
        value = _get(environ, name)
        fields[field] = Path(value) if value is not None else None
    fields["target"] = fields["target"] or DEFAULT_TARGET
    for field, value in options.items():
        if value is not None or field not in fields:
            fields[field] = value
    return ClientConfig(**fields)
