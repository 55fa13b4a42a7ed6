"""The channel policy every language shares, read from the JSON published beside the proto.

`service_config.json` is a gRPC service config (retry UNAVAILABLE and CANCELLED, round-robin over
every address, 8 MiB messages); `channel_options.json` holds what a service config cannot
say (keepalive, the message-size channel arguments, retries on). A Go or Node client loads
the same two files, so every client retries and balances the same way and the numbers
live in one place. Both ship inside the generated package, beside the .proto.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from whatsapp_errors.v1 import error_catalog_pb2 as pb

SERVICE_CONFIG_FILE = "service_config.json"
CHANNEL_OPTIONS_FILE = "channel_options.json"


def published(name: str) -> Any:
    """One of the JSON files of the generated package (the folder of the .proto)."""
    package = pb.__name__.rpartition(".")[0]
    return json.loads(resources.files(package).joinpath(name).read_text("utf-8"))


SERVICE_CONFIG: dict[str, Any] = published(SERVICE_CONFIG_FILE)
"""Retries UNAVAILABLE and CANCELLED (a grpc.aio server's stop() ends the calls it accepted
but had not started so; gRPC never retries a call the client cancelled itself), never a
deadline or a server error (every method only reads), and spreads calls over every resolved
address instead of pinning the first one (pick_first, gRPC's default)."""
CHANNEL_OPTIONS: dict[str, int] = published(CHANNEL_OPTIONS_FILE)
"""Channel arguments: a peer that vanishes without closing the connection is noticed within
~30 s (the server allows pings every 10 s), and messages up to the server's limit."""
