"""Entrusted-care agreements (委托照护协议): drafts and their rules, the signing lifecycle,
expiry, scans, and the follow-up lists (一人一协议). Builds on children."""
