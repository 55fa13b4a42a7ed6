"""Thin clients for the WhatsApp delivery-error service."""
