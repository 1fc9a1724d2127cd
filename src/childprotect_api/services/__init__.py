"""Domain rules. Services flush; the request's session commits once."""
