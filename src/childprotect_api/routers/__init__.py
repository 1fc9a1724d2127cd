"""Thin HTTP layer: parse, call a service, shape the answer."""
