"""The WhatsApp delivery-error gRPC server: catalog, classifier and service."""
