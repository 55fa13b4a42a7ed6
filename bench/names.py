"""The service's name and method paths, spelled once: from the generated descriptor.

Every load generator, probe and reference server in bench/ takes its paths
from here, so a path cannot be spelled two ways (h2load once loaded
`//pkg.Service/Classify`, a method no server has, and measured the cost of
refusing it).
"""

from __future__ import annotations

from whatsapp_errors.v1 import error_catalog_pb2 as pb

_SERVICE = pb.DESCRIPTOR.services_by_name["ErrorCatalogService"]

SERVICE: str = _SERVICE.full_name
"""The service's full name, "whatsapp.errors.v1.ErrorCatalogService" (no leading "/")."""


def method_path(name: str) -> str:
    """The HTTP/2 path of one of the service's methods, "/pkg.Service/Method".

    Raises KeyError for a method the service does not declare.
    """
    return f"/{SERVICE}/{_SERVICE.methods_by_name[name].name}"


CLASSIFY = method_path("Classify")
CLASSIFY_STREAM = method_path("ClassifyStream")
