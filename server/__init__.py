"""The WhatsApp delivery-error gRPC server: catalog, classifier and service."""

from whatsapp_errors.server import hot_path

hot_path.choose()  # before anything imports the hot path: compiled or the sources
