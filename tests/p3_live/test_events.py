"""Timing events: JSON round trip on a stream entry, and one-line reasons for malformed entries."""

from __future__ import annotations

import json

import pytest

from p3_live.events import FIELD, InvalidEvent, LapCompleted, PitStop, decode, encode


def test_an_event_survives_its_stream_entry_form() -> None:
    lap = LapCompleted(
        season=2019,
        round=20,
        driver_id=830,
        lap=3,
        lap_time_ms=75_000,
        position=1,
        elapsed_ms=230_000,
    )
    assert decode(encode(lap)) == lap
    stop = PitStop(season=2019, round=20, driver_id=1, lap=20, stop=1, duration_ms=None)
    assert decode(encode(stop)) == stop


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "no 'event' field"),
        ({FIELD: "{not json"}, "Invalid JSON"),
        ({FIELD: json.dumps({"type": "overtake", "season": 2019, "round": 1})}, "type"),
        (
            {
                FIELD: json.dumps(
                    {"type": "lap", "season": 2019, "round": 20, "driver_id": 1, "lap": 2,
                     "lap_time_ms": -5, "position": 1, "elapsed_ms": 100}
                )
            },
            "lap.lap_time_ms: Input should be greater than 0 (got -5)",
        ),
        (
            {FIELD: json.dumps({"type": "pit", "season": 2019, "round": 20, "lap": 2, "stop": 1})},
            "pit.driver_id: Field required",
        ),
    ],
)  # fmt: skip
def test_a_malformed_entry_is_refused_with_a_one_line_reason(
    fields: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidEvent) as refused:
        decode(fields)
    message = str(refused.value)
    assert reason in message
    assert "\n" not in message
