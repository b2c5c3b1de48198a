"""The /v1 analytics API."""
