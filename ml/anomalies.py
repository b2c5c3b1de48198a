"""Lap-time and pit-stop anomalies with robust statistics (median / MAD), per driver stint and per race."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

# 1.4826 * MAD estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826
# A lap is anomalous beyond this many robust standard deviations from its stint's local level.
# At 5 sigma a Gaussian lap is flagged about once in 1.7 million, so on clean laps the flags come
# from the MAD floor and the rolling-median window, well under the 0.5 % the tests allow.
LAP_Z_THRESHOLD = 5.0
# Lap-time noise below 0.4 % of the lap (~0.35 s on a 90 s lap) is not resolved: a floor on the
# scale keeps unusually consistent stints from flagging tenths.
LAP_SCALE_FLOOR_PCT = 0.004
# Centred rolling-median window: follows fuel burn and tyre wear inside a stint, yet needs more
# than three anomalous laps in a row before the local level moves.
LAP_WINDOW = 7
MIN_STINT_LAPS = 5
# When the median driver on a lap is this much slower than their own stint median, the lap was
# neutralised (safety car, virtual safety car, red flag): slow laps there are the race's anomaly,
# not the driver's. Even a VSC costs well over 20 %; ordinary laps vary by a few per cent.
FIELD_SLOWDOWN = 0.08

PIT_Z_THRESHOLD = 4.0
PIT_SCALE_FLOOR_MS = 500.0

LAP_ANOMALY_COLUMNS = [
    "race_id",
    "season",
    "round",
    "driver_id",
    "constructor_id",
    "lap",
    "stint",
    "lap_time_ms",
    "expected_ms",
    "delta_ms",
    "robust_z",
    "direction",
    "is_field_wide",
]
PIT_ANOMALY_COLUMNS = [
    "race_id",
    "season",
    "round",
    "driver_id",
    "constructor_id",
    "stop",
    "lap",
    "duration_ms",
    "race_median_ms",
    "delta_ms",
    "robust_z",
    "direction",
]


def load_laps(con: duckdb.DuckDBPyConnection, *, min_season: int | None = None) -> pd.DataFrame:
    """Lap rows of ``marts.fct_lap_times`` (optionally from ``min_season``)."""
    return con.execute(
        """
        select race_id, season, round, driver_id, constructor_id, lap, lap_time_ms,
            is_pit_in_lap, is_pit_out_lap, is_first_lap
        from marts.fct_lap_times
        where season >= coalesce(?, 0)
        """,
        [min_season],
    ).df()


def load_pit_stops(
    con: duckdb.DuckDBPyConnection, *, min_season: int | None = None
) -> pd.DataFrame:
    """Pit-stop rows of ``marts.fct_pit_stops`` (optionally from ``min_season``)."""
    return con.execute(
        """
        select race_id, season, round, driver_id, constructor_id, stop, lap, duration_ms,
            is_red_flag_stop
        from marts.fct_pit_stops
        where season >= coalesce(?, 0)
        """,
        [min_season],
    ).df()


def assign_stints(laps: pd.DataFrame) -> pd.DataFrame:
    """Add ``stint`` (1, 2, ...): a new stint starts on every pit out-lap of the driver's race."""
    frame = laps.sort_values(["race_id", "driver_id", "lap"]).copy()
    frame["stint"] = frame.groupby(["race_id", "driver_id"])["is_pit_out_lap"].cumsum() + 1
    return frame


def score_laps(laps: pd.DataFrame) -> pd.DataFrame:
    """Every racing lap with its local expected time and robust z-score within its stint.

    Excluded: lap 1 (standing start), pit in- and out-laps, and stints shorter than
    MIN_STINT_LAPS racing laps (no stable level to compare with). The expected time is a centred
    rolling median over the stint, so fuel burn and tyre wear do not look like anomalies; the scale
    is the MAD of the residuals in the stint, floored at LAP_SCALE_FLOOR_PCT of the lap time.
    """
    frame = assign_stints(laps)
    racing = ~(frame["is_first_lap"] | frame["is_pit_in_lap"] | frame["is_pit_out_lap"])
    frame = frame[racing].copy()
    keys = ["race_id", "driver_id", "stint"]
    frame = frame[frame.groupby(keys)["lap"].transform("size") >= MIN_STINT_LAPS]
    if frame.empty:
        return frame.assign(expected_ms=[], delta_ms=[], robust_z=[])
    rolled = (
        frame.groupby(keys, sort=False)["lap_time_ms"]
        .rolling(LAP_WINDOW, center=True, min_periods=3)
        .median()
    )
    frame["expected_ms"] = rolled.reset_index(level=[0, 1, 2], drop=True).reindex(frame.index)
    frame["delta_ms"] = frame["lap_time_ms"] - frame["expected_ms"]
    groups = [frame[k] for k in keys]
    centre = frame["delta_ms"].groupby(groups).transform("median")
    mad = (frame["delta_ms"] - centre).abs().groupby(groups).transform("median")
    floor = LAP_SCALE_FLOOR_PCT * frame["expected_ms"]
    scale = np.maximum(MAD_TO_SIGMA * mad, floor)
    frame["robust_z"] = frame["delta_ms"] / scale
    return frame


def lap_time_anomalies(laps: pd.DataFrame, *, threshold: float = LAP_Z_THRESHOLD) -> pd.DataFrame:
    """Laps abnormally slow or fast for that driver and stint (|robust z| > ``threshold``).

    ``is_field_wide`` marks slow laps shared by most of the field on that lap (safety car, red
    flag): anomalies of the race rather than of the driver. Sorted by |z|, largest first.
    """
    scored = score_laps(laps)
    if scored.empty:
        return pd.DataFrame(columns=LAP_ANOMALY_COLUMNS)
    scored["direction"] = np.where(scored["robust_z"] > 0, "slow", "fast")
    flagged = scored["robust_z"].abs() > threshold
    scored["is_field_wide"] = (scored["robust_z"] > threshold) & (
        field_slowdown(scored) > FIELD_SLOWDOWN
    )
    anomalies = scored[flagged].copy()
    anomalies = anomalies.reindex(anomalies["robust_z"].abs().sort_values(ascending=False).index)
    return anomalies[LAP_ANOMALY_COLUMNS].reset_index(drop=True)


def field_slowdown(scored: pd.DataFrame) -> pd.Series:
    """Per row: how much slower than their stint median the median driver was on that lap."""
    stint_median = scored.groupby(["race_id", "driver_id", "stint"])["lap_time_ms"].transform(
        "median"
    )
    ratio = scored["lap_time_ms"] / stint_median - 1
    return ratio.groupby([scored["race_id"], scored["lap"]]).transform("median")


def pit_stop_anomalies(stops: pd.DataFrame, *, threshold: float = PIT_Z_THRESHOLD) -> pd.DataFrame:
    """Pit stops abnormally long or short for their race (|robust z| > ``threshold``).

    Pit-lane time depends on the circuit, so each stop is compared with the median stop of its
    race; the scale is the race's MAD, floored at PIT_SCALE_FLOOR_MS. Red-flag stops (cars
    waiting in the pit lane) are excluded. Sorted by |z|, largest first.
    """
    frame = stops[~stops["is_red_flag_stop"].astype(bool)].copy()
    if frame.empty:
        return pd.DataFrame(columns=PIT_ANOMALY_COLUMNS)
    by_race = frame.groupby("race_id")["duration_ms"]
    frame["race_median_ms"] = by_race.transform("median")
    frame["delta_ms"] = frame["duration_ms"] - frame["race_median_ms"]
    mad = frame["delta_ms"].abs().groupby(frame["race_id"]).transform("median")
    scale = np.maximum(MAD_TO_SIGMA * mad, PIT_SCALE_FLOOR_MS)
    frame["robust_z"] = frame["delta_ms"] / scale
    frame["direction"] = np.where(frame["robust_z"] > 0, "slow", "fast")
    anomalies = frame[frame["robust_z"].abs() > threshold]
    anomalies = anomalies.reindex(anomalies["robust_z"].abs().sort_values(ascending=False).index)
    return anomalies[PIT_ANOMALY_COLUMNS].reset_index(drop=True)
