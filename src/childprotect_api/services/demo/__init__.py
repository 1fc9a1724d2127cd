"""The demo county: one loader per domain, each going through the same services as the API."""
