"""Decoders, unit counting, tenant label injection, routing to stores and query isolation."""
