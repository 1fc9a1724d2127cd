"""Visits (入户探访): logging, corrections as versions, reviews, attachments, and the worklist of
who is due a visit. Builds on children (the schedule) and agreements (the worklist's gaps)."""
