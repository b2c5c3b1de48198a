"""The ``demo`` source: a seeded synthetic F1 championship of invented entities as Ergast tables.

``world`` invents the teams, drivers, circuits and calendars; ``simulator`` runs the weekends;
``tables`` writes them as Ergast tables; ``source`` is ``DemoSource``, the ``ErgastSource``.
Imports run one way: source -> tables -> simulator -> world.
"""

from .simulator import format_duration
from .source import DemoSource

__all__ = ["DemoSource", "format_duration"]
