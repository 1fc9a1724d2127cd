"""Integration clients (OAuth2 client credentials) and their webhooks: subscriptions, the
fan-out of outbox events into deliveries, and the delivery worker."""
