"""The local stack: the pipeline of template.yaml on a laptop, with moto's server as AWS.

Nothing here is deployed. It reads template.yaml, creates its resources in moto, runs the real
handlers in Lambda-like worker processes, and feeds them real Lambda-shaped events.
"""
