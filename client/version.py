"""The installed client's version, for `waerr --version` and callers that log it.

Read from the installed distribution's metadata (pyproject's `version`), so
there is one number to bump; looked up on first use, not at import, because
importlib.metadata costs tens of milliseconds.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

DISTRIBUTION = "whatsapp-errors-client"
"""The distribution that ships whatsapp_errors.client (client/pyproject.toml's `name`)."""


@cache
def version() -> str:
    """The installed version, or "unknown" when run from a tree that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
