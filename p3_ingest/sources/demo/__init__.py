"""The ``demo`` source: a seeded synthetic F1 championship of invented entities as Ergast tables."""

from .source import DemoSource, format_duration

__all__ = ["DemoSource", "format_duration"]
