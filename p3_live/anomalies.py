"""Live lap anomalies: ``ml.anomalies``' robust-z method on the laps a race has run so far,
evaluated once per leader lap (the rolling median needs the neighbouring laps, not each event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.anomalies import lap_time_anomalies

from .state import RaceState


def race_laps(state: RaceState) -> pd.DataFrame:
    """The race's laps so far in ``marts.fct_lap_times``' shape (pit laps from the pit events)."""
    rows = []
    for driver_id, driver in state.drivers.items():
        stops = {stop.lap for stop in driver.pits.values()}
        for lap, record in driver.laps.items():
            rows.append(
                {
                    "race_id": 0,
                    "season": state.season,
                    "round": state.round,
                    "driver_id": driver_id,
                    "constructor_id": 0,
                    "lap": lap,
                    "lap_time_ms": record.time_ms,
                    "is_pit_in_lap": lap in stops,
                    "is_pit_out_lap": lap - 1 in stops,
                    "is_first_lap": lap == 1,
                }
            )
    return pd.DataFrame(rows)


@dataclass
class LapAnomalies:
    """Adds the flagged laps (not field-wide slowdowns) to a leaderboard, and marks the rows whose
    last lap is one of them."""

    _flagged: dict[tuple[int, int], tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)

    def __call__(self, state: RaceState, board: dict[str, Any]) -> dict[str, Any]:
        key = (state.season, state.round)
        cached = self._flagged.get(key)
        if cached is None or cached[0] != board["lap"]:
            laps = race_laps(state)
            found = lap_time_anomalies(laps) if len(laps) else pd.DataFrame()
            flagged = [
                {
                    "driver_id": int(r.driver_id),
                    "lap": int(r.lap),
                    "robust_z": round(float(r.robust_z), 1),
                    "direction": str(r.direction),
                }
                for r in found.itertuples()
                if not bool(r.is_field_wide)
            ]
            cached = self._flagged[key] = (board["lap"], flagged)
        flagged = cached[1]
        laps_flagged = {(a["driver_id"], a["lap"]) for a in flagged}
        for row in board["rows"]:
            row["last_lap_anomaly"] = (row["driver_id"], row["laps"]) in laps_flagged
        board["lap_anomalies"] = flagged
        return board
