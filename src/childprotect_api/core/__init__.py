"""Plumbing every domain uses: the database and the request's one transaction (db, rawsql),
problem+json errors, middleware, keyset pagination, ETags, idempotency, the audit writer, the
outbox and batched append-only writes, background job runs. Core imports no service."""
