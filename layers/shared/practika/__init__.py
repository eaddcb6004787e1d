"""Shared domain and data-access code of the Practika video pipeline (deployed as a Lambda layer)."""

__version__ = "0.1.0"
