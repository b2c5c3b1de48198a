"""Ergast time strings to milliseconds and seconds; null tokens."""

from __future__ import annotations

import pytest

from p3_ingest.sources.timing import duration_to_ms, is_null_token, time_of_day_to_seconds


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("26.898", 26_898),  # a normal pit stop
        ("1:38.109", 98_109),  # a normal lap
        ("16:44.718", 1_004_718),  # a pit stop spanning a red flag
        ("2:05:05.152", 7_505_152),  # 2011 Canada's red-flag lap, over an hour
        ("1:34:50.616", 5_690_616),  # a winner's race time
        ("1:31.53", 91_530),  # two decimals: hundredths, not milliseconds
        ("55.4", 55_400),
        ("1:05", 65_000),
    ],
)
def test_durations_parse_to_milliseconds(text: str, ms: int) -> None:
    assert duration_to_ms(text) == ms


@pytest.mark.parametrize("token", ["\\N", "", "  ", None])
def test_null_tokens_parse_to_none(token: str | None) -> None:
    assert is_null_token(token)
    assert duration_to_ms(token) is None
    assert time_of_day_to_seconds(token) is None


@pytest.mark.parametrize("text", ["+5.478", "+1 Lap", "abc", "1:75.100", "1.2.3"])
def test_gaps_and_garbage_are_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)[1:-1].replace("+", r"\+")):
        duration_to_ms(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("06:00:00", 21_600), ("15:00:00Z", 54_000), ("17:05:23", 61_523)]
)
def test_times_of_day_parse_to_seconds(text: str, seconds: int) -> None:
    assert time_of_day_to_seconds(text) == seconds


@pytest.mark.parametrize("text", ["25:00:00", "12:60:00", "noon"])
def test_bad_times_of_day_raise(text: str) -> None:
    with pytest.raises(ValueError):
        time_of_day_to_seconds(text)
