"""Unit tests run with no network at all: any socket is a bug in the test or the code."""

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled):
    yield
