"""Alarm routing (DESIGN.md flow 5): every notification published to the alarm topic, parsed
into one model, routed by rules and posted to the on-call chats exactly once.

- `model`: the normalized notification every parser produces and every formatter reads.
- `parse`: SNS message -> notification, for each kind AWS publishes (and anything else).
- `format`: notification -> Slack, Teams, Google Chat, Discord or generic JSON payload, within limits.
- `routing`: the validated routing config (CHAT_ROUTES) and rule matching.
- `delivery`: one webhook post with timeouts and retries (429 Retry-After, 5xx, connection errors).
- `threads`: when an alarm went into ALARM, so its OK can say how long it lasted.
"""
