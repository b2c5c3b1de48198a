"""The demo warehouse of the ML tests, reused by the in-race model asset test."""

from tests.ml.conftest import demo_warehouse  # noqa: F401
