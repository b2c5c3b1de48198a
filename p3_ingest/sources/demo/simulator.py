"""The demo race simulator: qualifying, grids, races and sprints lap by lap, classification.

Given a season's seats (cars with their performance levels) and a race of the calendar, it
simulates the weekend: knockout qualifying, grid penalties, retirements, pit stops, safety cars,
dirty air and passing, then classifies the field with statuses, gaps, fastest laps and points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from p3_common.ergast import RACE_POINTS, SPRINT_POINTS

from .world import (
    DISQUALIFIED,
    FINISHED,
    INCIDENT_STATUSES,
    LAPPED_STATUS_IDS,
    MECHANICAL_STATUSES,
    NOT_CLASSIFIED,
    RUNNING_STATUSES,
    DemoConfig,
    Race,
    Seat,
    seeded_rng,
)

# Every demo season scores with RACE_POINTS and SPRINT_POINTS (documented in DemoSource).
FASTEST_LAP_POINT = 1

# --- Simulation constants (milliseconds unless named otherwise) ---------------------------------
LAP_NOISE_MS = 260.0
START_EXTRA_MS = 3500.0  # standing start and the run to the first corner
GRID_SLOT_MS = 230.0  # each grid slot starts further back
START_NOISE_MS = 500.0  # launches and first-corner chaos
PIT_LANE_START_MS = 4000.0
FOLLOW_MS = 600.0  # closer than this behind another car, dirty air holds you up
HOLD_MS = (200.0, 550.0)
PASS_SCALE_MS = 260.0
SAFETY_CAR_FACTOR = 1.4
SAFETY_CAR_GAP_MS = (500.0, 1100.0)
SPRINT_DISTANCE_KM = 100.0
CLASSIFICATION_SHARE = 0.9  # cars must cover 90% of the winner's laps to be classified


# --- Time strings --------------------------------------------------------------------------------


def format_duration(ms: int) -> str:
    """Ergast duration text, the inverse of ``duration_to_ms``: ``"23.456"``, ``"1:34:50.616"``."""
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    if minutes:
        return f"{minutes}:{seconds:02d}.{millis:03d}"
    return f"{seconds}.{millis:03d}"


# --- Qualifying and grid -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Qualifying:
    order: list[int]  # seat indices, pole first
    q1: list[int | None]
    q2: list[int | None]
    q3: list[int | None]


def _knockout_sizes(cars: int) -> tuple[int, int]:
    """Cars reaching Q2 and Q3: 20 cars give 15 and 10, as in 2010s-2020s qualifying."""
    q3 = min(10, cars // 2)
    return q3 + (cars - q3 + 1) // 2, q3


def _qualify(
    rng: np.random.Generator, seats: list[Seat], race: Race, form: np.ndarray
) -> _Qualifying:
    n = len(seats)
    pace = np.array([s.car_ms + s.quali_ms for s in seats]) + 0.3 * form
    base = race.circuit.base_lap_ms * 0.985
    # Track evolution: every session is a little quicker than the one before.
    session_base = (base, base * 0.997, base * 0.995)
    times = [np.round(b + pace + rng.normal(0.0, 120.0, n)).astype(int) for b in session_base]
    no_time = rng.random((3, n)) < np.array([[0.006], [0.01], [0.02]])
    q: list[list[int | None]] = [
        [None if no_time[s, i] else int(times[s][i]) for i in range(n)] for s in range(3)
    ]
    if race.year < 2006:  # single-session qualifying before the knockout format
        order = _rank_by_time(list(range(n)), q[0])
        return _Qualifying(order, q[0], [None] * n, [None] * n)
    to_q2, to_q3 = _knockout_sizes(n)
    after_q1 = _rank_by_time(list(range(n)), q[0])
    after_q2 = _rank_by_time(after_q1[:to_q2], q[1])
    after_q3 = _rank_by_time(after_q2[:to_q3], q[2])
    out_q1, out_q2 = set(after_q1[to_q2:]), set(after_q2[to_q3:])
    q2 = [None if i in out_q1 else q[1][i] for i in range(n)]
    q3 = [None if i in out_q1 or i in out_q2 else q[2][i] for i in range(n)]
    order = after_q3 + after_q2[to_q3:] + after_q1[to_q2:]
    return _Qualifying(order, q[0], q2, q3)


def _rank_by_time(cars: list[int], times: list[int | None]) -> list[int]:
    # Cars without a time go to the back in their entry order.
    return sorted(cars, key=lambda c: (times[c] is None, times[c] or 0, c))


def _race_grid(rng: np.random.Generator, quali_order: list[int]) -> tuple[list[int], list[int]]:
    """Start order and grid numbers (0 = pit-lane start) after grid penalties."""
    keys = {}
    pit_lane = set()
    for place, car in enumerate(quali_order, start=1):
        penalty = int(rng.choice([3, 5, 10])) if rng.random() < 0.05 else 0
        if rng.random() < 0.01:
            pit_lane.add(car)
        # +0.5: a penalised car lines up behind the car that qualified in its new slot
        keys[car] = place + penalty + (0.5 if penalty else 0.0)
    start_order = sorted(quali_order, key=lambda c: (c in pit_lane, keys[c]))
    grid = [0] * len(quali_order)
    for slot, car in enumerate(start_order, start=1):
        grid[car] = 0 if car in pit_lane else slot
    return start_order, grid


# --- Race simulation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RaceSetup:
    laps: int
    base_ms: float
    pace_ms: np.ndarray  # per car: race pace deficit
    start_order: list[int]
    pit_lane: frozenset[int]
    retire_lap: np.ndarray  # per car: lap it fails on (laps + 1 = never)
    retire_status: list[int]
    stops: list[list[tuple[int, int]]]  # per car: (in-lap, pit lane duration ms)
    safety_car_laps: frozenset[int]
    pass_threshold_ms: float
    tyre_deg_ms: float
    fuel_ms: float


@dataclass(frozen=True)
class _RaceRun:
    """Cumulative time of every car at the end of every lap it drove (0 for laps not driven)."""

    cum_ms: np.ndarray  # (laps, cars) int64
    driven: np.ndarray  # (cars,) laps each car completed before retiring or the race distance


def _plan_retirements(
    rng: np.random.Generator,
    seats: list[Seat],
    laps: int,
    grid: list[int],
    scale: float,
) -> tuple[np.ndarray, list[int]]:
    n = len(seats)
    retire_lap = np.full(n, laps + 1)
    status = [FINISHED] * n
    mech_ids, incident_ids = list(MECHANICAL_STATUSES), list(INCIDENT_STATUSES)
    for car, seat in enumerate(seats):
        roll = rng.random()
        lap = int(rng.integers(1, laps + 1))
        midfield = grid[car] == 0 or grid[car] > 3
        if roll < seat.mech_p * scale:
            retire_lap[car], status[car] = lap, mech_ids[int(rng.integers(len(mech_ids)))]
        elif roll < (seat.mech_p + seat.crash_p) * scale:
            retire_lap[car], status[car] = lap, incident_ids[int(rng.integers(len(incident_ids)))]
        elif midfield and roll < (seat.mech_p + seat.crash_p + 0.01) * scale:
            retire_lap[car], status[car] = 1, int(rng.choice([4, 130]))  # first-corner collision
    if (retire_lap <= laps).all():
        # Somebody has to see the flag: the last car to fail survives instead.
        survivor = int(np.argmax(retire_lap))
        retire_lap[survivor], status[survivor] = laps + 1, FINISHED
    return retire_lap, status


def _plan_stops(rng: np.random.Generator, cars: int, laps: int) -> list[list[tuple[int, int]]]:
    plans = []
    for _ in range(cars):
        count = int(rng.choice([1, 2, 3], p=[0.5, 0.42, 0.08]))
        ideal = [laps * (m + 1) / (count + 1) for m in range(count)]
        stop_laps = sorted(
            {int(np.clip(round(x + rng.normal(0.0, laps * 0.06)), 2, laps - 2)) for x in ideal}
        )
        plan = []
        for lap in stop_laps:
            duration = float(np.clip(rng.normal(23500.0, 900.0), 19500.0, 30000.0))
            if rng.random() < 0.06:  # a slow stop: wheel nut, unsafe release hold
                duration += rng.uniform(3000.0, 9000.0)
            plan.append((lap, int(round(duration))))
        plans.append(plan)
    return plans


def _plan_safety_car(
    rng: np.random.Generator, setup_laps: int, retire_lap: np.ndarray, status: list[int], p: float
) -> frozenset[int]:
    incident_laps = sorted(
        int(retire_lap[c])
        for c in range(len(status))
        if status[c] in INCIDENT_STATUSES and retire_lap[c] <= setup_laps - 2
    )
    # Crashes usually bring out the safety car; otherwise it comes out at random now and then.
    if incident_laps and rng.random() < 0.6:
        start = incident_laps[0]
    elif rng.random() < p and setup_laps > 6:
        start = int(rng.integers(2, setup_laps - 3))
    else:
        return frozenset()
    length = int(rng.integers(3, 6))
    # Never on lap 1: a first-corner crash neutralises the race from lap 2, after the start shuffle.
    return frozenset(range(max(start, 2), min(start + length, setup_laps - 1)))


def _lap_time_matrix(
    rng: np.random.Generator, setup: _RaceSetup
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unhindered lap times, the pit-stop part of them, and which laps are in-laps or out-laps."""
    laps, n = setup.laps, setup.pace_ms.size
    lap_no = np.arange(1, laps + 1)[:, None]
    age = np.repeat(lap_no - 1, n, axis=1).astype(float)
    pit_ms = np.zeros((laps, n))
    in_pits = np.zeros((laps, n), dtype=bool)
    for car, plan in enumerate(setup.stops):
        for lap, duration in plan:
            # The stop is logged on the in-lap; the out-lap carries the stationary time and the
            # pit lane, as in Ergast's lap times (the timing line is in the pit straight).
            pit_ms[lap - 1, car] += rng.uniform(600.0, 1600.0)
            pit_ms[lap, car] += duration - rng.uniform(3500.0, 5500.0)
            in_pits[lap - 1 : lap + 1, car] = True
            age[lap:, car] = np.arange(laps - lap)
    raw = (
        setup.base_ms
        + setup.pace_ms[None, :]
        + setup.fuel_ms * (setup.laps - lap_no) / setup.laps
        + setup.tyre_deg_ms * age
        + rng.normal(0.0, LAP_NOISE_MS, (laps, n))
        + pit_ms
    )
    slot = np.empty(n)
    for position, car in enumerate(setup.start_order):
        slot[car] = position + (3 if car in setup.pit_lane else 0)
    raw[0] += START_EXTRA_MS + slot * GRID_SLOT_MS + rng.normal(0.0, START_NOISE_MS, n)
    raw[0, list(setup.pit_lane)] += PIT_LANE_START_MS
    return raw, pit_ms, in_pits


def _simulate(rng: np.random.Generator, setup: _RaceSetup) -> _RaceRun:
    """Lap-by-lap race: cars are held up in dirty air and pass with a pace-dependent chance."""
    laps, n = setup.laps, setup.pace_ms.size
    raw, pit_ms, in_pits = _lap_time_matrix(rng, setup)
    hold = rng.uniform(*HOLD_MS, (laps, n))
    chance = rng.random((laps, n))
    sc_lap = setup.base_ms * SAFETY_CAR_FACTOR + rng.normal(0.0, 400.0, (laps, n)) + pit_ms
    sc_gap = rng.uniform(*SAFETY_CAR_GAP_MS, (laps, n))
    # Plain Python lists of whole milliseconds: the lap loop below is scalar code.
    raw_ms, hold_ms = np.rint(raw).astype(np.int64).tolist(), hold.astype(np.int64).tolist()
    sc_ms, sc_gap_ms = np.rint(sc_lap).astype(np.int64).tolist(), sc_gap.astype(np.int64).tolist()
    chances, pitting = chance.tolist(), in_pits.tolist()
    retire_lap = setup.retire_lap.tolist()
    cum = np.zeros((laps, n), dtype=np.int64)
    previous = [0] * n
    order = list(setup.start_order)
    for k in range(laps):
        lap = k + 1
        order = [c for c in order if retire_lap[c] > lap]
        if lap in setup.safety_car_laps:
            new = _safety_car_lap(setup, order, previous, sc_ms[k], sc_gap_ms[k], pitting[k])
        else:
            threshold = setup.pass_threshold_ms * (0.4 if lap == 1 else 1.0)
            new = _green_lap(
                order, previous, raw_ms[k], pitting[k], hold_ms[k], chances[k], threshold
            )
        order.sort(key=new.__getitem__)
        _break_ties(order, new)
        for car, value in new.items():
            cum[k, car] = value
            previous[car] = value
    driven = np.minimum(setup.retire_lap - 1, laps)
    return _RaceRun(cum_ms=cum, driven=driven)


def _break_ties(order: list[int], new: dict[int, int]) -> None:
    # Two cars cannot cross the line in the same millisecond; the one ahead on the road keeps it.
    for ahead, behind in pairwise(order):
        if new[behind] <= new[ahead]:
            new[behind] = new[ahead] + 1


def _green_lap(
    order: list[int],
    previous: list[int],
    raw: list[int],
    in_pits: list[bool],
    hold: list[int],
    chance: list[float],
    threshold: float,
) -> dict[int, int]:
    new: dict[int, int] = {}
    # The two slowest on-track cumulative times so far: the car directly ahead, and the one before.
    ahead: int | None = None
    ahead2: int | None = None
    for car in order:
        value = previous[car] + raw[car]
        if not in_pits[car] and ahead is not None:
            gap = value - ahead
            if 0 <= gap < FOLLOW_MS:
                value = ahead + hold[car]
            elif gap < 0:
                p_pass = 1.0 / (1.0 + math.exp((threshold + gap) / PASS_SCALE_MS))
                if chance[car] >= p_pass:
                    value = ahead + hold[car]
                elif ahead2 is not None and value < ahead2 + FOLLOW_MS:
                    value = max(value, ahead2 + hold[car])  # one pass per lap at most
        new[car] = value
        if not in_pits[car]:
            if ahead is None or value > ahead:
                ahead, ahead2 = value, ahead
            elif ahead2 is None or value > ahead2:
                ahead2 = value
    return new


def _safety_car_lap(
    setup: _RaceSetup,
    order: list[int],
    previous: list[int],
    sc_lap: list[int],
    sc_gap: list[int],
    in_pits: list[bool],
) -> dict[int, int]:
    # The field bunches up behind the safety car and nobody passes; cars a lap down just follow.
    new: dict[int, int] = {}
    leader_previous = previous[order[0]] if order else 0
    ahead: int | None = None
    fastest_catch_up = int(setup.base_ms * 1.05)
    for car in order:
        value = previous[car] + sc_lap[car]
        lapped = previous[car] - leader_previous > setup.base_ms * 0.9
        if ahead is not None and not in_pits[car]:
            if lapped:
                value = max(value, ahead + sc_gap[car])
            else:
                value = max(ahead + sc_gap[car], previous[car] + fastest_catch_up)
        new[car] = value
        if not in_pits[car]:
            ahead = value if ahead is None else max(ahead, value)
    return new


# --- Classification ------------------------------------------------------------------------------


@dataclass
class Result:
    car: int
    grid: int
    laps: int
    status_id: int
    position: int | None = None
    position_text: str = ""
    position_order: int = 0
    points: float = 0.0
    time: str | None = None
    milliseconds: int | None = None
    fastest_lap: int | None = None
    fastest_lap_ms: int | None = None
    rank: int | None = None
    lap_ms: list[int] = field(default_factory=list)


def _classify(
    rng: np.random.Generator,
    setup: _RaceSetup,
    run: _RaceRun,
    grid: list[int],
    points: Sequence[int],
    *,
    fastest_lap_point: bool,
    dsq_p: float,
) -> list[Result]:
    """Take the flag, order the field, set statuses, gaps, fastest laps and points."""
    cum, laps = run.cum_ms, setup.laps
    finished_distance = [c for c in range(cum.shape[1]) if run.driven[c] == laps]
    win_ms = int(min(cum[laps - 1, c] for c in finished_distance))
    results = []
    for car in range(cum.shape[1]):
        driven = int(run.driven[car])
        # A car takes the flag the first time it crosses the line after the winner has.
        flagged = np.nonzero(cum[:driven, car] >= win_ms)[0]
        if flagged.size:
            done, status = int(flagged[0]) + 1, FINISHED
            if done < laps:
                status = LAPPED_STATUS_IDS.get(laps - done, NOT_CLASSIFIED)
        else:
            done, status = driven, setup.retire_status[car]
        lap_ms = np.diff(cum[:done, car], prepend=0).tolist()
        results.append(Result(car=car, grid=grid[car], laps=done, status_id=status, lap_ms=lap_ms))
    winner = min(
        (r for r in results if r.laps == laps), key=lambda r: int(cum[laps - 1, r.car])
    ).car
    disqualified = {
        r.car
        for r in results
        if r.car != winner and r.status_id == FINISHED and rng.random() < dsq_p
    }
    _order_field(results, cum, laps, disqualified)
    _set_times(results, cum, win_ms)
    _set_fastest_laps(results)
    _set_points(results, points, fastest_lap_point)
    return results


def _order_field(results: list[Result], cum: np.ndarray, laps: int, disqualified: set[int]) -> None:
    """Classified cars by distance then time, then the rest by distance, then disqualifications."""

    def last_time(r: Result) -> int:
        return int(cum[r.laps - 1, r.car]) if r.laps else 0

    min_laps = math.floor(CLASSIFICATION_SHARE * laps)
    dsq = sorted((r for r in results if r.car in disqualified), key=lambda r: r.car)
    eligible = [r for r in results if r.car not in disqualified]
    classified = sorted(
        (r for r in eligible if r.laps >= min_laps and r.status_id != NOT_CLASSIFIED),
        key=lambda r: (-r.laps, last_time(r)),
    )
    unclassified = sorted(
        (r for r in eligible if r not in classified),
        key=lambda r: (-r.laps, last_time(r), r.grid == 0, r.grid),
    )
    for order, r in enumerate(classified + unclassified + dsq, start=1):
        r.position_order = order
    for r in classified:
        r.position, r.position_text = r.position_order, str(r.position_order)
    for r in unclassified:
        # Running at the flag but too far behind is "N"; anything else is a retirement.
        r.position_text = "N" if r.status_id in RUNNING_STATUSES else "R"
    for r in dsq:
        r.status_id, r.position_text = DISQUALIFIED, "D"


def _set_times(results: list[Result], cum: np.ndarray, win_ms: int) -> None:
    for r in results:
        if r.status_id != FINISHED or r.position is None:
            continue
        r.milliseconds = int(cum[r.laps - 1, r.car])
        gap = r.milliseconds - win_ms
        r.time = format_duration(win_ms) if r.position == 1 else f"+{format_duration(gap)}"


def _set_fastest_laps(results: list[Result]) -> None:
    timed = [r for r in results if r.lap_ms]
    for r in timed:
        best = int(np.argmin(r.lap_ms))
        r.fastest_lap, r.fastest_lap_ms = best + 1, int(r.lap_ms[best])
    ranked = sorted(timed, key=lambda r: (r.fastest_lap_ms, r.fastest_lap, r.position_order))
    for rank, r in enumerate(ranked, start=1):
        r.rank = rank


def _set_points(results: list[Result], points: Sequence[int], fastest_lap_point: bool) -> None:
    for r in results:
        if r.position is not None and r.position <= len(points):
            r.points = float(points[r.position - 1])
        # 2019-2024 rule: one point for the fastest lap, only if that driver finishes in the top 10.
        if fastest_lap_point and r.rank == 1 and r.position is not None and r.position <= 10:
            r.points += FASTEST_LAP_POINT


# --- One race weekend ----------------------------------------------------------------------------


@dataclass
class Weekend:
    race: Race
    qualifying: _Qualifying
    race_results: list[Result]
    sprint_results: list[Result] | None
    stops: list[list[tuple[int, int]]]


def _race_pace(rng: np.random.Generator, seats: list[Seat], form: np.ndarray) -> np.ndarray:
    # Race pace adds what qualifying does not show: team race trim, racecraft and full current form,
    # so recent results and reliability carry information beyond the grid.
    base = np.array([s.car_ms + s.race_bias_ms + 0.8 * s.quali_ms + s.racecraft_ms for s in seats])
    return base + form + rng.normal(0.0, 120.0, len(seats))


def simulate_weekend(
    config: DemoConfig, seats: list[Seat], race: Race, form: np.ndarray
) -> Weekend:
    year, rnd = race.year, race.round
    quali = _qualify(seeded_rng(config, year, "qualifying", rnd), seats, race, form)
    sprint = None
    if race.is_sprint:
        # The sprint starts in qualifying order (2021-2022 format), with no grid penalties.
        sprint_grid = [0] * len(seats)
        for slot, car in enumerate(quali.order, start=1):
            sprint_grid[car] = slot
        event = _Event(seats, race, form, quali.order, frozenset(), sprint_grid, is_sprint=True)
        sprint = _run_event(seeded_rng(config, year, "sprint", rnd), config, event)[0]
    rng = seeded_rng(config, year, "race", rnd)
    start_order, grid = _race_grid(rng, quali.order)
    pit_lane = frozenset(c for c in range(len(seats)) if grid[c] == 0)
    event = _Event(seats, race, form, start_order, pit_lane, grid, is_sprint=False)
    results, stops = _run_event(rng, config, event)
    return Weekend(race, quali, results, sprint, stops)


@dataclass(frozen=True)
class _Event:
    """Who starts where in a Grand Prix or a sprint."""

    seats: list[Seat]
    race: Race
    form: np.ndarray
    start_order: list[int]
    pit_lane: frozenset[int]
    grid: list[int]
    is_sprint: bool


def _run_event(
    rng: np.random.Generator, config: DemoConfig, event: _Event
) -> tuple[list[Result], list[list[tuple[int, int]]]]:
    """Simulate and classify a Grand Prix (full distance, pit stops) or a sprint (~100 km)."""
    circuit, seats = event.race.circuit, event.seats
    if event.is_sprint:
        laps = math.ceil(SPRINT_DISTANCE_KM / circuit.length_km)
    else:
        laps = circuit.laps
    share = laps / circuit.laps  # retirement risk and fuel load scale with distance
    retire_lap, retire_status = _plan_retirements(rng, seats, laps, event.grid, share)
    stops = [[] for _ in seats] if event.is_sprint else _plan_stops(rng, len(seats), laps)
    sc_p = circuit.safety_car_p * (0.3 if event.is_sprint else 1.0)
    setup = _RaceSetup(
        laps=laps,
        base_ms=circuit.base_lap_ms,
        pace_ms=_race_pace(rng, seats, event.form),
        start_order=event.start_order,
        pit_lane=event.pit_lane,
        retire_lap=retire_lap,
        retire_status=retire_status,
        stops=stops,
        safety_car_laps=_plan_safety_car(rng, laps, retire_lap, retire_status, sc_p),
        pass_threshold_ms=circuit.pass_threshold_ms,
        tyre_deg_ms=circuit.tyre_deg_ms * (0.5 if event.is_sprint else 1.0),
        fuel_ms=circuit.fuel_ms * share,
    )
    results = _classify(
        rng,
        setup,
        _simulate(rng, setup),
        event.grid,
        SPRINT_POINTS if event.is_sprint else RACE_POINTS,
        fastest_lap_point=config.fastest_lap_point and not event.is_sprint,
        dsq_p=0.0 if event.is_sprint else 0.004,
    )
    return results, stops


def season_form(config: DemoConfig, year: int, cars: int) -> np.ndarray:
    """Per-round form of every car: an AR(1) walk, so a good run tends to continue."""
    rng = seeded_rng(config, year, "form")
    form = np.zeros((config.races_per_season, cars))
    form[0] = rng.normal(0.0, 110.0, cars)
    for r in range(1, config.races_per_season):
        form[r] = 0.65 * form[r - 1] + rng.normal(0.0, 120.0, cars)
    return form
