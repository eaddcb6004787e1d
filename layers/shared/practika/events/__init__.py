"""App events: one per state change of a video or a clip, read off AppTable's stream, published on
the stack's EventBridge bus and delivered to the app as signed webhooks."""
