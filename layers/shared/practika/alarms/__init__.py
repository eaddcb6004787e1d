"""Alarms: every notification on the alarm topic parsed into one model (model, parse), routed by
rules (routing, threads), formatted per chat (format, links) and posted once (router, delivery)."""
