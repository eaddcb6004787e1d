"""Clips: a clip request's rules and quota, the worker that cuts it, over the clip records, the
clip queue and the clip objects; read model -> rules -> service (requests) / worker -> store."""
