"""Authentication (tokens, passwords) and authorisation (scope, permission matrix)."""
