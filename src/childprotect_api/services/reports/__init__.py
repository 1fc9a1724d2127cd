"""Mandatory reports (强制报告): intake, who sees what (the reporter's identity), the county's
time limits, the workflow of acceptance, referrals and closing, and the timeline. Builds on
children."""
