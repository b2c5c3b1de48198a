"""Parsers for Ergast time strings: lap and pit-stop durations to milliseconds, times of day, null tokens."""

from __future__ import annotations

import re

# Ergast's MySQL dump writes NULL as \N; qualifying also has empty strings for "no time set".
NULL_TOKENS: frozenset[str] = frozenset({"\\N", ""})

_DURATION = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+)(?:\.(\d{1,3}))?$")
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?Z?$")


def is_null_token(value: str | None) -> bool:
    """True for Python None and for the textual nulls of the Ergast formats (``\\N``, empty)."""
    return value is None or value.strip() in NULL_TOKENS


def duration_to_ms(value: str | None) -> int | None:
    """Parse an Ergast duration (``"26.898"``, ``"1:38.109"``, ``"16:44.718"``, ``"2:05:05.152"``) to ms.

    Returns None for null tokens. Gaps (``"+5.478"``) and malformed strings raise ``ValueError``:
    a gap is not a duration, so silently parsing it would corrupt lap or pit-stop times.
    """
    if is_null_token(value):
        return None
    assert value is not None
    match = _DURATION.match(value.strip())
    if match is None:
        raise ValueError(f"not an Ergast duration: {value!r}")
    first, second, seconds, fraction = match.groups()
    hours, minutes = (int(first), int(second)) if second is not None else (0, int(first or 0))
    if second is not None and int(second) >= 60 or int(seconds) >= 60 and first is not None:
        raise ValueError(f"minutes or seconds out of range in {value!r}")
    millis = int((fraction or "").ljust(3, "0"))
    return ((hours * 60 + minutes) * 60 + int(seconds)) * 1000 + millis


def time_of_day_to_seconds(value: str | None) -> int | None:
    """Parse ``"HH:MM:SS"`` (optionally with a trailing ``Z`` as the API writes it) to seconds after midnight."""
    if is_null_token(value):
        return None
    assert value is not None
    match = _TIME_OF_DAY.match(value.strip())
    if match is None:
        raise ValueError(f"not a time of day: {value!r}")
    hours, minutes, seconds = (int(g) for g in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"time of day out of range: {value!r}")
    return hours * 3600 + minutes * 60 + seconds
