"""The children registry (一人一档): records and their rules, ID numbers, listing, transfers,
history, risk levels and the visit schedule they set, schooling and subsidies, bulk import."""
