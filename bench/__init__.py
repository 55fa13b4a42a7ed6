"""Benchmarks for the WhatsApp delivery-error service."""
