"""The ``demo`` source: a seeded synthetic F1 championship of invented entities as Ergast tables."""

from __future__ import annotations

import math
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

from p3_common.ergast import TABLES

from ..calendar import calendar_of
from ..schema import conform, empty_table
from ..source import SourceName

SOURCE: SourceName = "demo"
URL_BASE = "https://example.invalid/p3-demo"

# Scoring of the 2019-2024 championships, used for every demo season (documented in DemoSource).
RACE_POINTS: tuple[int, ...] = (25, 18, 15, 12, 10, 8, 6, 4, 2, 1)
SPRINT_POINTS: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2, 1)
FASTEST_LAP_POINT = 1

# Real Ergast status ids and texts (status.csv), so joins and filters written for real data work.
FINISHED = 1
DISQUALIFIED = 2
NOT_CLASSIFIED = 62
MECHANICAL_STATUSES: dict[int, str] = {
    5: "Engine",
    6: "Gearbox",
    7: "Transmission",
    9: "Hydraulics",
    10: "Electrical",
    22: "Suspension",
    23: "Brakes",
    31: "Retired",
    34: "Water pressure",
    44: "Oil leak",
    75: "Power loss",
    131: "Power Unit",
    141: "Cooling system",
}
INCIDENT_STATUSES: dict[int, str] = {
    3: "Accident",
    4: "Collision",
    20: "Spun off",
    29: "Puncture",
    130: "Collision damage",
}
LAPPED_STATUS_IDS: dict[int, int] = {**{n: 10 + n for n in range(1, 10)}, 10: 88}
# Statuses of cars running at the flag (classified or not); any other status is a retirement.
RUNNING_STATUSES = frozenset({FINISHED, NOT_CLASSIFIED, *LAPPED_STATUS_IDS.values()})
STATUSES: dict[int, str] = dict(
    sorted(
        {
            FINISHED: "Finished",
            DISQUALIFIED: "Disqualified",
            NOT_CLASSIFIED: "Not classified",
            **MECHANICAL_STATUSES,
            **INCIDENT_STATUSES,
            **{sid: f"+{n} Lap{'s' if n > 1 else ''}" for n, sid in LAPPED_STATUS_IDS.items()},
        }.items()
    )
)

# Id ranges far above real Ergast ids (max circuit 80, constructor 215, driver 862, race 1144), so
# demo rows can never be mistaken for, or joined to, real ones.
CIRCUIT_ID_BASE = 900
CONSTRUCTOR_ID_BASE = 900
DRIVER_ID_BASE = 9000

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
FORMATION_LAP_S = 240  # pit stop times of day count from the start signal, after the formation lap
SPRINT_DISTANCE_KM = 100.0
RACE_DISTANCE_KM = 305.0
MAX_RACE_LAPS = 78
CLASSIFICATION_SHARE = 0.9  # cars must cover 90% of the winner's laps to be classified

_COUNTRIES: tuple[tuple[str, float, float, int], ...] = (
    # country, rough centre latitude, longitude, UTC offset (standard time)
    ("United Kingdom", 52.5, -1.5, 0),
    ("Italy", 43.5, 11.5, 1),
    ("Germany", 50.5, 9.5, 1),
    ("France", 46.5, 2.5, 1),
    ("Spain", 40.5, -3.5, 1),
    ("Netherlands", 52.2, 5.3, 1),
    ("Austria", 47.3, 14.0, 1),
    ("Hungary", 47.2, 19.4, 1),
    ("Belgium", 50.6, 4.6, 1),
    ("Portugal", 39.5, -8.3, 0),
    ("Turkey", 40.5, 29.5, 3),
    ("Bahrain", 26.0, 50.5, 3),
    ("Japan", 35.5, 137.5, 9),
    ("China", 31.0, 118.0, 8),
    ("Singapore", 1.35, 103.8, 8),
    ("Australia", -34.0, 145.0, 10),
    ("Brazil", -23.0, -47.0, -3),
    ("Mexico", 20.5, -99.5, -6),
    ("United States", 37.0, -96.0, -6),
    ("Canada", 45.5, -75.0, -5),
)
_NATIONALITIES = (
    "British",
    "Italian",
    "German",
    "French",
    "Spanish",
    "Dutch",
    "Austrian",
    "Finnish",
    "Danish",
    "Belgian",
    "Swedish",
    "Swiss",
    "Japanese",
    "Australian",
    "Brazilian",
    "Canadian",
    "American",
    "Mexican",
    "Monegasque",
    "New Zealander",
)
# Syllables for invented names; the mix includes non-ASCII letters because real Ergast names do.
_FORENAME_ONSETS = (
    "Al", "Bar", "Cal", "Dor", "Ed", "Fal", "Gar", "Hol", "Is", "Jor", "Kal", "Lev",
    "Mor", "Nal", "Or", "Per", "Ros", "Sol", "Tav", "Ul", "Ven", "Wal", "Yor", "Zel",
)  # fmt: skip
_FORENAME_CODAS = (
    "ric", "vin", "dan", "to", "mar", "iel", "ano", "ek", "ias", "en", "ard", "o", "is", "éo",
)  # fmt: skip
_SURNAME_ONSETS = (
    "Vark", "Kest", "Dolm", "Marr", "Fenw", "Brav", "Quil", "Tors", "Selv", "Ostr", "Hald",
    "Jund", "Lindq", "Pellr", "Rask", "Vint", "Wex", "Zann", "Corv", "Ambr", "Thal", "Greb",
)  # fmt: skip
_SURNAME_LINKS = ("", "a", "e", "i", "o", "en")
_SURNAME_CODAS = (
    "nov", "berg", "ley", "ani", "ström", "ez", "ard", "ski", "ton", "elli", "sen", "ier",
    "mont", "quist", "ado", "ek", "ović", "hausen", "ridge", "ucci",
)  # fmt: skip
_BRAND_ONSETS = (
    "Vek", "Aur", "Hal", "Strat", "Kor", "Lum", "Pyr", "Zeph", "Tal", "Nex", "Quor", "Bel",
    "Crux", "Dyn", "Orv", "Sard", "Mav", "Ost", "Ryn", "Ilv", "Gald", "Wyr",
)  # fmt: skip
_BRAND_CODAS = ("tor", "ion", "ax", "ora", "is", "on", "ex", "ara", "ium", "ent", "ys")
_TEAM_SUFFIXES = ("Racing", "Motorsport", "Grand Prix", "F1 Team", "Engineering", "Corse")
_PLACE_ONSETS = (
    "Val", "Mar", "Kor", "Bel", "Sarn", "Porv", "Ros", "Alt", "Cam", "Lun", "Ser", "Tir",
    "Vell", "Oster", "Gran", "Mir",
)  # fmt: skip
_PLACE_CODAS = (
    "mora", "ovia", "ento", "haven", "burg", "ana", "ford", "eira", "stad", "ville", "ada",
    "mouth", "ica", "ópolis",
)  # fmt: skip
_CIRCUIT_KINDS: tuple[tuple[str, bool], ...] = (
    ("International Circuit", False),
    ("Autodrome", False),
    ("Raceway", False),
    ("Ring", False),
    ("Park Circuit", False),
    ("Street Circuit", True),
    ("Harbour Circuit", True),
)


# --- Configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    """Size and seed of the synthetic championship; validated on construction."""

    seed: int = 2024
    first_season: int = 2020
    num_seasons: int = 5
    races_per_season: int = 12
    teams: int = 10
    first_sprint_season: int = 2021
    sprints_per_season: int = 3
    fastest_lap_point: bool = True

    def __post_init__(self) -> None:
        checks = {
            "seed must be a non-negative integer": self.seed >= 0,
            "first_season must be between 1950 and 9000": 1950 <= self.first_season <= 9000,
            "num_seasons must be between 1 and 100": 1 <= self.num_seasons <= 100,
            # ids are race_id * 100 + row and race_id = year * 100 + round, so both stay below 100
            "races_per_season must be between 1 and 30": 1 <= self.races_per_season <= 30,
            "teams must be between 2 and 20": 2 <= self.teams <= 20,
            "sprints_per_season must be between 0 and races_per_season": 0
            <= self.sprints_per_season
            <= self.races_per_season,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid demo configuration: {'; '.join(failed)}")

    @property
    def years(self) -> list[int]:
        """The generated seasons, ascending."""
        return list(range(self.first_season, self.first_season + self.num_seasons))


def _rng(config: DemoConfig, year: int, purpose: str, round_: int = 0) -> np.random.Generator:
    """An independent stream per (seed, season, purpose, round).

    Seasons never share a stream, so a season generated alone equals the same season generated
    with all others: partitions are materialised independently.
    """
    return np.random.default_rng([config.seed, year, round_, zlib.crc32(purpose.encode())])


# --- The world: teams, drivers, circuits and how they evolve between seasons ----------------------


@dataclass(frozen=True)
class _Team:
    constructor_id: int
    ref: str
    name: str
    nationality: str


@dataclass(frozen=True)
class _Driver:
    driver_id: int
    ref: str
    number: int
    code: str
    forename: str
    surname: str
    dob: date
    nationality: str


@dataclass(frozen=True)
class _Circuit:
    circuit_id: int
    ref: str
    name: str
    location: str
    country: str
    lat: float
    lng: float
    alt: int
    utc_offset_h: int
    local_start_hour: int
    length_km: float
    base_lap_ms: float
    laps: int
    pass_threshold_ms: float  # pace advantage needed for a 50% chance to pass: track difficulty
    tyre_deg_ms: float  # lap time lost per lap of tyre age
    fuel_ms: float  # lap time lost on full tanks, burning off linearly
    safety_car_p: float
    is_street: bool


@dataclass(frozen=True)
class _Seat:
    """One car for one season: its driver and team, and the performance levels behind results."""

    driver_id: int
    constructor_id: int
    number: int
    car_ms: float  # car deficit per lap to the best car of the season
    race_bias_ms: float  # team's race pace relative to its qualifying pace
    mech_p: float  # per-race probability of a mechanical retirement
    quali_ms: float  # driver's one-lap deficit
    racecraft_ms: float  # driver's race pace relative to one-lap pace
    crash_p: float  # per-race probability of crashing out


@dataclass
class _TeamState:
    car_ms: float
    race_bias_ms: float
    mech_p: float


@dataclass
class _DriverState:
    quali_ms: float
    racecraft_ms: float
    crash_p: float


class _Namer:
    """Invents unique names from syllables so no demo entity is a real person, team or track.

    Each name starts with the least-used onset of its list, so a grid does not get three teams
    called Dyn-something.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._onset_uses: Counter[str] = Counter()

    def word(self, rng: np.random.Generator, onsets: Sequence[str], *rest: Sequence[str]) -> str:
        for _ in range(200):
            fewest = min(self._onset_uses[o] for o in onsets)
            onset = _pick(rng, [o for o in onsets if self._onset_uses[o] == fewest])
            text = onset + "".join(_pick(rng, part) for part in rest)
            if _ascii_ref(text) not in self._taken:
                self._taken.add(_ascii_ref(text))
                self._onset_uses[onset] += 1
                return text
        raise RuntimeError("ran out of invented names; enlarge the syllable lists")


@dataclass
class _World:
    """Everything that persists across seasons, built once from the seed for every season."""

    teams: list[_Team]
    circuits: list[_Circuit]
    drivers: list[_Driver] = field(default_factory=list)
    seats: dict[int, list[_Seat]] = field(default_factory=dict)


class _WorldBuilder:
    """Evolves teams, drivers and line-ups season by season from per-season random streams."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.namer = _Namer()
        self.world = _World(
            teams=_make_teams(_rng(config, 0, "teams"), config.teams, self.namer),
            # Two spare circuits so calendars rotate a little from season to season.
            circuits=_make_circuits(
                _rng(config, 0, "circuits"), config.races_per_season + 2, self.namer
            ),
        )
        self.team_states: dict[int, _TeamState] = {}
        self.driver_states: dict[int, _DriverState] = {}
        self.lineup: dict[int, list[int]] = {}

    def build(self) -> _World:
        for index, year in enumerate(self.config.years):
            rng = _rng(self.config, year, "world")
            if index == 0:
                self.team_states = _initial_team_states(rng, self.world.teams)
                self.lineup = {
                    team.constructor_id: [self._sign(rng, year, rookie=False) for _ in range(2)]
                    for team in self.world.teams
                }
            else:
                _drift_teams(rng, self.team_states)
                _drift_drivers(rng, self.driver_states, self.world, year)
                sign_rookie = partial(self._sign, rng, year, rookie=True)
                self.lineup = _next_lineup(
                    rng, self.lineup, self.team_states, self.world, year, sign_rookie
                )
            self.world.seats[year] = _season_seats(
                self.world, self.lineup, self.team_states, self.driver_states
            )
        return self.world

    def _sign(self, rng: np.random.Generator, year: int, *, rookie: bool) -> int:
        driver = _new_driver(rng, self.world, self.namer, year, rookie=rookie)
        # Rookies start a little slower and crash a little more.
        self.driver_states[driver.driver_id] = _DriverState(
            quali_ms=rng.normal(120.0, 150.0) if rookie else rng.normal(0.0, 170.0),
            racecraft_ms=rng.normal(0.0, 70.0),
            crash_p=rng.uniform(0.015, 0.04) if rookie else rng.uniform(0.008, 0.03),
        )
        return driver.driver_id


def _initial_team_states(rng: np.random.Generator, teams: list[_Team]) -> dict[int, _TeamState]:
    car_ms = rng.uniform(0.0, 1900.0, len(teams))
    car_ms -= car_ms.min()
    return {
        team.constructor_id: _TeamState(
            car_ms=float(car_ms[i]),
            race_bias_ms=float(rng.normal(0.0, 80.0)),
            mech_p=_reliability_draw(rng),
        )
        for i, team in enumerate(teams)
    }


def _reliability_draw(rng: np.random.Generator) -> float:
    # Skewed: most cars fail in 3-6% of races, a few fragile ones in 15-20%, so a team's
    # reliability record is worth knowing when predicting its next result.
    return float(0.01 + 0.2 * rng.beta(1.2, 3.0))


def _drift_teams(rng: np.random.Generator, states: dict[int, _TeamState]) -> None:
    # Car performance regresses to the mean with new noise each winter, so orders change slowly.
    for state in states.values():
        state.car_ms = 0.75 * state.car_ms + 0.25 * 950.0 + rng.normal(0.0, 250.0)
        state.race_bias_ms = 0.7 * state.race_bias_ms + rng.normal(0.0, 60.0)
        # Reliability mostly carries over; sometimes a new power unit or concept resets it.
        if rng.random() < 0.3:
            state.mech_p = _reliability_draw(rng)
        else:
            state.mech_p = float(np.clip(state.mech_p * rng.lognormal(0.0, 0.2), 0.005, 0.25))
    best = min(s.car_ms for s in states.values())
    for state in states.values():
        state.car_ms = min(state.car_ms - best, 2400.0)


def _drift_drivers(
    rng: np.random.Generator, states: dict[int, _DriverState], world: _World, year: int
) -> None:
    # Young drivers improve and veterans fade; everyone gets a little noise.
    for driver in world.drivers:
        state = states[driver.driver_id]
        age = year - driver.dob.year
        trend = -35.0 if age < 25 else (30.0 if age > 34 else 0.0)
        state.quali_ms = float(np.clip(state.quali_ms + trend + rng.normal(0.0, 40.0), -500, 600))
        state.crash_p = float(np.clip(state.crash_p * 0.95, 0.005, 0.05))


def _next_lineup(
    rng: np.random.Generator,
    lineup: dict[int, list[int]],
    team_states: dict[int, _TeamState],
    world: _World,
    year: int,
    rookie: Callable[[], int],
) -> dict[int, list[int]]:
    """Mostly the same pairings; a few drivers leave, move up the grid, or swap seats."""
    born = {d.driver_id: d.dob.year for d in world.drivers}
    seats: dict[int, list[int | None]] = {team: list(drivers) for team, drivers in lineup.items()}
    vacancies: list[tuple[int, int]] = []
    for team in sorted(seats):
        for slot, driver_id in enumerate(seats[team]):
            assert driver_id is not None
            leave_p = 0.35 if year - born[driver_id] >= 34 else 0.07
            if rng.random() < leave_p:
                seats[team][slot] = None
                vacancies.append((team, slot))
    # A vacancy is filled from a slower team (its seat then opens) or by a rookie. Promotions only
    # move to faster cars, so the chain of openings always ends.
    for team, slot in vacancies:
        slower = [
            (other, other_slot)
            for other in sorted(seats)
            if team_states[other].car_ms > team_states[team].car_ms
            for other_slot, occupant in enumerate(seats[other])
            if occupant is not None
        ]
        if slower and rng.random() < 0.4:
            other, other_slot = slower[int(rng.integers(len(slower)))]
            seats[team][slot], seats[other][other_slot] = seats[other][other_slot], None
            vacancies.append((other, other_slot))
        else:
            seats[team][slot] = rookie()
    if len(seats) > 1 and rng.random() < 0.3:
        first, second = (int(t) for t in rng.choice(sorted(seats), size=2, replace=False))
        a, b = int(rng.integers(2)), int(rng.integers(2))
        seats[first][a], seats[second][b] = seats[second][b], seats[first][a]
    return {team: [d for d in drivers if d is not None] for team, drivers in seats.items()}


def _season_seats(
    world: _World,
    lineup: dict[int, list[int]],
    team_states: dict[int, _TeamState],
    driver_states: dict[int, _DriverState],
) -> list[_Seat]:
    numbers = {d.driver_id: d.number for d in world.drivers}
    seats = []
    for team in world.teams:
        state = team_states[team.constructor_id]
        for driver_id in lineup[team.constructor_id]:
            skill = driver_states[driver_id]
            seats.append(
                _Seat(
                    driver_id=driver_id,
                    constructor_id=team.constructor_id,
                    number=numbers[driver_id],
                    car_ms=state.car_ms,
                    race_bias_ms=state.race_bias_ms,
                    mech_p=state.mech_p,
                    quali_ms=skill.quali_ms,
                    racecraft_ms=skill.racecraft_ms,
                    crash_p=skill.crash_p,
                )
            )
    return seats


def _make_teams(rng: np.random.Generator, count: int, namer: _Namer) -> list[_Team]:
    teams = []
    for i in range(count):
        brand = namer.word(rng, _BRAND_ONSETS, _BRAND_CODAS)
        teams.append(
            _Team(
                constructor_id=CONSTRUCTOR_ID_BASE + i + 1,
                ref=_ascii_ref(brand),
                name=f"{brand} {_pick(rng, _TEAM_SUFFIXES)}",
                nationality=_pick(rng, _NATIONALITIES),
            )
        )
    return teams


def _make_circuits(rng: np.random.Generator, count: int, namer: _Namer) -> list[_Circuit]:
    circuits = []
    for i in range(count):
        location = namer.word(rng, _PLACE_ONSETS, _PLACE_CODAS)
        kind, is_street = _CIRCUIT_KINDS[int(rng.integers(len(_CIRCUIT_KINDS)))]
        country, lat, lng, offset = _COUNTRIES[int(rng.integers(len(_COUNTRIES)))]
        length = rng.uniform(3.4, 6.2) if is_street else rng.uniform(4.0, 7.0)
        speed_kph = rng.uniform(165.0, 205.0) if is_street else rng.uniform(190.0, 240.0)
        circuits.append(
            _Circuit(
                circuit_id=CIRCUIT_ID_BASE + i + 1,
                ref=_ascii_ref(location),
                name=f"{location} {kind}",
                location=location,
                country=country,
                lat=round(lat + rng.uniform(-2.0, 2.0), 4),
                lng=round(lng + rng.uniform(-3.0, 3.0), 4),
                alt=int(rng.integers(0, 40) if rng.random() < 0.6 else rng.integers(40, 800)),
                utc_offset_h=offset,
                local_start_hour=int(rng.choice([13, 14, 15])),
                length_km=round(length, 3),
                base_lap_ms=length / speed_kph * 3_600_000,
                laps=min(MAX_RACE_LAPS, math.ceil(RACE_DISTANCE_KM / length)),
                pass_threshold_ms=rng.uniform(700, 1400) if is_street else rng.uniform(350, 900),
                tyre_deg_ms=rng.uniform(45.0, 95.0),
                fuel_ms=rng.uniform(2500.0, 3500.0),
                safety_car_p=0.35 if is_street else 0.15,
                is_street=is_street,
            )
        )
    return circuits


def _new_driver(
    rng: np.random.Generator, world: _World, namer: _Namer, year: int, *, rookie: bool
) -> _Driver:
    forename = _pick(rng, _FORENAME_ONSETS) + _pick(rng, _FORENAME_CODAS)
    surname = namer.word(rng, _SURNAME_ONSETS, _SURNAME_LINKS, _SURNAME_CODAS)
    age = int(rng.integers(18, 23) if rookie else rng.integers(20, 35))
    dob = date(year - age, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
    driver = _Driver(
        driver_id=DRIVER_ID_BASE + len(world.drivers) + 1,
        ref=_ascii_ref(surname),
        number=_free_number(rng, world),
        code=_free_code(rng, world, surname),
        forename=forename,
        surname=surname,
        dob=dob,
        nationality=_pick(rng, _NATIONALITIES),
    )
    world.drivers.append(driver)
    return driver


def _free_number(rng: np.random.Generator, world: _World) -> int:
    # Permanent numbers 2-99 (1 is the champion's); reused only once all have been handed out.
    used = {d.number for d in world.drivers}
    free = [n for n in range(2, 100) if n not in used]
    if not free:
        free = list(range(2, 100))
    return free[int(rng.integers(len(free)))]


def _free_code(rng: np.random.Generator, world: _World, surname: str) -> str:
    used = {d.code for d in world.drivers}
    letters = _ascii_ref(surname).upper().replace("_", "")
    candidates = [letters[:3], letters[0] + letters[2:4], letters[0] + letters[-2:]]
    for code in candidates:
        if len(code) == 3 and code not in used:
            return code
    while True:
        code = letters[0] + "".join(chr(65 + int(i)) for i in rng.integers(0, 26, 2))
        if code not in used:
            return code


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _ascii_ref(text: str) -> str:
    """Ergast-style ref: lowercase ASCII with underscores (``"Lindqström"`` -> ``"lindqstrom"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.lower().replace(" ", "_")


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


def _format_clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


# --- Calendar ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Race:
    race_id: int
    year: int
    round: int
    circuit: _Circuit
    day: date  # Sunday, local date
    is_sprint: bool

    @property
    def name(self) -> str:
        return f"{self.circuit.location} Grand Prix"

    def local(self, day_offset: int, hour: int, minute: int = 0) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, hour, minute) + timedelta(
            days=day_offset
        )

    def utc(self, day_offset: int, hour: int, minute: int = 0) -> datetime:
        return self.local(day_offset, hour, minute) - timedelta(hours=self.circuit.utc_offset_h)


def _calendar(config: DemoConfig, world: _World, year: int) -> list[_Race]:
    rng = _rng(config, year, "calendar")
    count = config.races_per_season
    dropped = set(rng.choice(len(world.circuits), size=len(world.circuits) - count, replace=False))
    circuits = [c for i, c in enumerate(world.circuits) if i not in dropped]
    # Sundays from early March to late November, evenly spread.
    march = date(year, 3, 1)
    first_sunday = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    weeks = np.round(np.linspace(0, 37, count)).astype(int) if count > 1 else np.array([0])
    sprint_rounds: set[int] = set()
    if year >= config.first_sprint_season and config.sprints_per_season:
        # Never the opener, as in the real calendars, unless every round must be a sprint.
        picks = config.sprints_per_season
        first = 2 if picks < count else 1
        sprint_rounds = {int(r) for r in rng.choice(range(first, count + 1), picks, replace=False)}
    return [
        _Race(
            race_id=year * 100 + rnd,
            year=year,
            round=rnd,
            circuit=circuit,
            day=first_sunday + timedelta(weeks=int(weeks[rnd - 1])),
            is_sprint=rnd in sprint_rounds,
        )
        for rnd, circuit in enumerate(circuits, start=1)
    ]


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
    rng: np.random.Generator, seats: list[_Seat], race: _Race, form: np.ndarray
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
    seats: list[_Seat],
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
class _Result:
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
) -> list[_Result]:
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
        results.append(_Result(car=car, grid=grid[car], laps=done, status_id=status, lap_ms=lap_ms))
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


def _order_field(
    results: list[_Result], cum: np.ndarray, laps: int, disqualified: set[int]
) -> None:
    """Classified cars by distance then time, then the rest by distance, then disqualifications."""

    def last_time(r: _Result) -> int:
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


def _set_times(results: list[_Result], cum: np.ndarray, win_ms: int) -> None:
    for r in results:
        if r.status_id != FINISHED or r.position is None:
            continue
        r.milliseconds = int(cum[r.laps - 1, r.car])
        gap = r.milliseconds - win_ms
        r.time = format_duration(win_ms) if r.position == 1 else f"+{format_duration(gap)}"


def _set_fastest_laps(results: list[_Result]) -> None:
    timed = [r for r in results if r.lap_ms]
    for r in timed:
        best = int(np.argmin(r.lap_ms))
        r.fastest_lap, r.fastest_lap_ms = best + 1, int(r.lap_ms[best])
    ranked = sorted(timed, key=lambda r: (r.fastest_lap_ms, r.fastest_lap, r.position_order))
    for rank, r in enumerate(ranked, start=1):
        r.rank = rank


def _set_points(results: list[_Result], points: Sequence[int], fastest_lap_point: bool) -> None:
    for r in results:
        if r.position is not None and r.position <= len(points):
            r.points = float(points[r.position - 1])
        # 2019-2024 rule: one point for the fastest lap, only if that driver finishes in the top 10.
        if fastest_lap_point and r.rank == 1 and r.position is not None and r.position <= 10:
            r.points += FASTEST_LAP_POINT


# --- One race weekend ----------------------------------------------------------------------------


@dataclass
class _Weekend:
    race: _Race
    qualifying: _Qualifying
    race_results: list[_Result]
    sprint_results: list[_Result] | None
    stops: list[list[tuple[int, int]]]


def _race_pace(rng: np.random.Generator, seats: list[_Seat], form: np.ndarray) -> np.ndarray:
    # Race pace adds what qualifying does not show: team race trim, racecraft and full current form,
    # so recent results and reliability carry information beyond the grid.
    base = np.array([s.car_ms + s.race_bias_ms + 0.8 * s.quali_ms + s.racecraft_ms for s in seats])
    return base + form + rng.normal(0.0, 120.0, len(seats))


def _weekend(config: DemoConfig, seats: list[_Seat], race: _Race, form: np.ndarray) -> _Weekend:
    year, rnd = race.year, race.round
    quali = _qualify(_rng(config, year, "qualifying", rnd), seats, race, form)
    sprint = None
    if race.is_sprint:
        # The sprint starts in qualifying order (2021-2022 format), with no grid penalties.
        sprint_grid = [0] * len(seats)
        for slot, car in enumerate(quali.order, start=1):
            sprint_grid[car] = slot
        event = _Event(seats, race, form, quali.order, frozenset(), sprint_grid, is_sprint=True)
        sprint = _run_event(_rng(config, year, "sprint", rnd), config, event)[0]
    rng = _rng(config, year, "race", rnd)
    start_order, grid = _race_grid(rng, quali.order)
    pit_lane = frozenset(c for c in range(len(seats)) if grid[c] == 0)
    event = _Event(seats, race, form, start_order, pit_lane, grid, is_sprint=False)
    results, stops = _run_event(rng, config, event)
    return _Weekend(race, quali, results, sprint, stops)


@dataclass(frozen=True)
class _Event:
    """Who starts where in a Grand Prix or a sprint."""

    seats: list[_Seat]
    race: _Race
    form: np.ndarray
    start_order: list[int]
    pit_lane: frozenset[int]
    grid: list[int]
    is_sprint: bool


def _run_event(
    rng: np.random.Generator, config: DemoConfig, event: _Event
) -> tuple[list[_Result], list[list[tuple[int, int]]]]:
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


def _season_form(config: DemoConfig, year: int, cars: int) -> np.ndarray:
    """Per-round form of every car: an AR(1) walk, so a good run tends to continue."""
    rng = _rng(config, year, "form")
    form = np.zeros((config.races_per_season, cars))
    form[0] = rng.normal(0.0, 110.0, cars)
    for r in range(1, config.races_per_season):
        form[r] = 0.65 * form[r - 1] + rng.normal(0.0, 120.0, cars)
    return form


# --- Season tables -------------------------------------------------------------------------------


Columns = dict[str, list[Any]]


def _generate_season(config: DemoConfig, world: _World, year: int) -> dict[str, pa.Table]:
    seats = world.seats[year]
    calendar = _calendar(config, world, year)
    form = _season_form(config, year, len(seats))
    weekends = [_weekend(config, seats, race, form[race.round - 1]) for race in calendar]
    where = f"seed {config.seed}, season {year}"
    built: dict[str, Columns] = {
        "races": _races_columns(calendar),
        "qualifying": _qualifying_columns(weekends, seats),
        "results": _results_columns(weekends, seats, sprint=False),
        "sprint_results": _results_columns(weekends, seats, sprint=True),
        "lap_times": _lap_times_columns(weekends, seats),
        "pit_stops": _pit_stops_columns(weekends, seats),
        **_standings_columns(weekends, seats),
    }
    return {name: _conformed(name, columns, where) for name, columns in built.items()}


def _conformed(table: str, columns: Columns, where: str) -> pa.Table:
    if not next(iter(columns.values())):
        return empty_table(table)
    return conform(pa.table(columns), table, source=SOURCE, where=where)


def _races_columns(calendar: list[_Race]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["races"].column_names}
    for race in calendar:
        hour = race.circuit.local_start_hour
        start = race.utc(0, hour)
        sessions: dict[str, datetime | None]
        if race.is_sprint:
            # Ergast's sprint-weekend convention: fp2 holds the Saturday sprint-qualifying slot.
            sessions = {
                "fp1": race.utc(-2, 11, 30),
                "quali": race.utc(-2, 15),
                "fp2": race.utc(-1, 10, 30),
                "sprint": race.utc(-1, 14, 30),
                "fp3": None,
            }
        else:
            sessions = {
                "fp1": race.utc(-2, 11, 30),
                "fp2": race.utc(-2, 15),
                "fp3": race.utc(-1, 11, 30),
                "quali": race.utc(-1, 15),
                "sprint": None,
            }
        row: dict[str, Any] = {
            "race_id": race.race_id,
            "year": race.year,
            "round": race.round,
            "circuit_id": race.circuit.circuit_id,
            "name": race.name,
            "date": start.date(),
            "time": _format_clock(start),
            "url": f"{URL_BASE}/races/{race.year}/{race.round}",
        }
        for session, moment in sessions.items():
            row[f"{session}_date"] = moment.date() if moment else None
            row[f"{session}_time"] = _format_clock(moment) if moment else None
        for name in cols:
            cols[name].append(row[name])
    return cols


def _qualifying_columns(weekends: list[_Weekend], seats: list[_Seat]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["qualifying"].column_names}
    for weekend in weekends:
        quali = weekend.qualifying
        race_id = weekend.race.race_id
        for position, car in enumerate(quali.order, start=1):
            seat = seats[car]
            times = (quali.q1[car], quali.q2[car], quali.q3[car])
            row = {
                "qualify_id": race_id * 100 + position,
                "race_id": race_id,
                "driver_id": seat.driver_id,
                "constructor_id": seat.constructor_id,
                "number": seat.number,
                "position": position,
                **{
                    f"q{i}": None if t is None else format_duration(t)
                    for i, t in enumerate(times, start=1)
                },
            }
            for name in cols:
                cols[name].append(row[name])
    return cols


def _results_columns(weekends: list[_Weekend], seats: list[_Seat], *, sprint: bool) -> Columns:
    table = "sprint_results" if sprint else "results"
    cols: Columns = {name: [] for name in TABLES[table].column_names}
    for weekend in weekends:
        results = weekend.sprint_results if sprint else weekend.race_results
        if results is None:
            continue
        race_id = weekend.race.race_id
        length_km = weekend.race.circuit.length_km
        for r in sorted(results, key=lambda r: r.position_order):
            seat = seats[r.car]
            fl_ms = r.fastest_lap_ms
            row = {
                "result_id": race_id * 100 + r.position_order,
                "race_id": race_id,
                "driver_id": seat.driver_id,
                "constructor_id": seat.constructor_id,
                "number": seat.number,
                "grid": r.grid,
                "position": r.position,
                "position_text": r.position_text,
                "position_order": r.position_order,
                "points": r.points,
                "laps": r.laps,
                "time": r.time,
                "milliseconds": r.milliseconds,
                "fastest_lap": r.fastest_lap,
                "rank": r.rank,
                "fastest_lap_time": None if fl_ms is None else format_duration(fl_ms),
                "fastest_lap_speed": None if fl_ms is None else round(length_km / fl_ms * 3.6e6, 3),
                "status_id": r.status_id,
            }
            for name in cols:
                cols[name].append(row[name])
    return cols


def _lap_times_columns(weekends: list[_Weekend], seats: list[_Seat]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["lap_times"].column_names}
    for weekend in weekends:
        results = weekend.race_results
        race_id = weekend.race.race_id
        positions = _lap_positions(results)
        for r in results:
            driver_id = seats[r.car].driver_id
            cumulative = 0
            for lap, ms in enumerate(r.lap_ms, start=1):
                cumulative += ms
                cols["race_id"].append(race_id)
                cols["driver_id"].append(driver_id)
                cols["lap"].append(lap)
                cols["position"].append(positions[(r.car, lap)])
                cols["time"].append(format_duration(ms))
                cols["milliseconds"].append(ms)
    return cols


def _lap_positions(results: list[_Result]) -> dict[tuple[int, int], int]:
    """Running order at the end of each lap among the cars that completed it."""
    cumulative = {r.car: np.cumsum(r.lap_ms) for r in results}
    most = max((r.laps for r in results), default=0)
    positions: dict[tuple[int, int], int] = {}
    for lap in range(1, most + 1):
        crossing = sorted(
            (int(cumulative[r.car][lap - 1]), r.car) for r in results if r.laps >= lap
        )
        for position, (_, car) in enumerate(crossing, start=1):
            positions[(car, lap)] = position
    return positions


def _pit_stops_columns(weekends: list[_Weekend], seats: list[_Seat]) -> Columns:
    cols: Columns = {name: [] for name in TABLES["pit_stops"].column_names}
    for weekend in weekends:
        race = weekend.race
        start = race.local(0, race.circuit.local_start_hour) + timedelta(seconds=FORMATION_LAP_S)
        for r in weekend.race_results:
            # A stop happened if the car completed its in-lap and was still racing afterwards.
            made = [
                (lap, ms)
                for lap, ms in weekend.stops[r.car]
                if lap < r.laps or (lap == r.laps and r.status_id not in RUNNING_STATUSES)
            ]
            elapsed = np.cumsum(r.lap_ms) if r.lap_ms else np.array([0])
            for stop, (lap, ms) in enumerate(made, start=1):
                moment = start + timedelta(milliseconds=int(elapsed[lap - 1]))
                cols["race_id"].append(race.race_id)
                cols["driver_id"].append(seats[r.car].driver_id)
                cols["stop"].append(stop)
                cols["lap"].append(lap)
                cols["time"].append(_format_clock(moment))
                cols["duration"].append(format_duration(ms))
                cols["milliseconds"].append(ms)
    return cols


def _standings_columns(weekends: list[_Weekend], seats: list[_Seat]) -> dict[str, Columns]:
    """Cumulative driver and constructor standings after each round, and per-race team points."""
    driver_ids = [s.driver_id for s in seats]
    team_ids = sorted({s.constructor_id for s in seats})
    team_of = [team_ids.index(s.constructor_id) for s in seats]
    n_positions = len(seats)
    driver_points = np.zeros(len(seats))
    team_points = np.zeros(len(team_ids))
    # Countback: finishing-position counts break ties on points (wins first, then seconds, ...).
    driver_counts = np.zeros((len(seats), n_positions + 1), dtype=int)
    team_counts = np.zeros((len(team_ids), n_positions + 1), dtype=int)
    out = {
        name: {c: [] for c in TABLES[name].column_names}
        for name in ("driver_standings", "constructor_standings", "constructor_results")
    }
    for weekend in weekends:
        race_id = weekend.race.race_id
        race_team_points = np.zeros(len(team_ids))
        for r in weekend.race_results + (weekend.sprint_results or []):
            driver_points[r.car] += r.points
            race_team_points[team_of[r.car]] += r.points
        for r in weekend.race_results:
            if r.position is not None:
                driver_counts[r.car, r.position] += 1
                team_counts[team_of[r.car], r.position] += 1
        team_points += race_team_points
        for index, team_id in enumerate(team_ids):
            _append(
                out["constructor_results"],
                constructor_results_id=race_id * 100 + index + 1,
                race_id=race_id,
                constructor_id=team_id,
                points=float(race_team_points[index]),
                status=None,
            )
        _append_standings(
            out["driver_standings"], "driver", race_id, driver_ids, driver_points, driver_counts
        )
        _append_standings(
            out["constructor_standings"], "constructor", race_id, team_ids, team_points, team_counts
        )
    return out


def _append_standings(
    cols: Columns,
    entity: str,
    race_id: int,
    ids: list[int],
    points: np.ndarray,
    counts: np.ndarray,
) -> None:
    ranked = sorted(
        range(len(ids)),
        key=lambda i: (-points[i], *(-counts[i, p] for p in range(1, counts.shape[1])), ids[i]),
    )
    for position, i in enumerate(ranked, start=1):
        _append(
            cols,
            **{f"{entity}_standings_id": race_id * 100 + position},
            race_id=race_id,
            **{f"{entity}_id": ids[i]},
            points=float(points[i]),
            position=position,
            position_text=str(position),
            wins=int(counts[i, 1]),
        )


def _append(cols: Columns, **row: Any) -> None:
    for name in cols:
        cols[name].append(row[name])


# --- Reference tables ----------------------------------------------------------------------------


def _reference_columns(config: DemoConfig, world: _World, table: str) -> Columns:
    if table == "seasons":
        return {
            "year": config.years,
            "url": [f"{URL_BASE}/seasons/{year}" for year in config.years],
        }
    if table == "status":
        return {"status_id": list(STATUSES), "status": list(STATUSES.values())}
    if table == "constructors":
        return _rows_to_columns(
            table,
            [
                {
                    "constructor_id": t.constructor_id,
                    "constructor_ref": t.ref,
                    "name": t.name,
                    "nationality": t.nationality,
                    "url": f"{URL_BASE}/constructors/{t.ref}",
                }
                for t in world.teams
            ],
        )
    if table == "drivers":
        return _rows_to_columns(
            table,
            [
                {
                    "driver_id": d.driver_id,
                    "driver_ref": d.ref,
                    "number": d.number,
                    "code": d.code,
                    "forename": d.forename,
                    "surname": d.surname,
                    "dob": d.dob,
                    "nationality": d.nationality,
                    "url": f"{URL_BASE}/drivers/{d.ref}",
                }
                for d in world.drivers
            ],
        )
    if table == "circuits":
        # Only circuits that hosted a race: the spare ones of the pool may never be used.
        used = {
            race.circuit.circuit_id for y in config.years for race in _calendar(config, world, y)
        }
        return _rows_to_columns(
            table,
            [
                {
                    "circuit_id": c.circuit_id,
                    "circuit_ref": c.ref,
                    "name": c.name,
                    "location": c.location,
                    "country": c.country,
                    "lat": c.lat,
                    "lng": c.lng,
                    "alt": c.alt,
                    "url": f"{URL_BASE}/circuits/{c.ref}",
                }
                for c in world.circuits
                if c.circuit_id in used
            ],
        )
    raise ValueError(f"unknown reference table {table!r}")


def _rows_to_columns(table: str, rows: list[dict[str, Any]]) -> Columns:
    return {name: [row[name] for row in rows] for name in TABLES[table].column_names}


# --- The source ----------------------------------------------------------------------------------


class DemoSource:
    """A deterministic synthetic championship behind the ``ErgastSource`` protocol.

    Defaults: seasons 2020-2024, 12 races each, 10 teams of 2 drivers, seed 2024 (the platform's
    ``P3_DEMO_SEED`` default). The same configuration always yields byte-identical tables, and each
    season depends only on the seed and the seasons before it, so a season generated alone equals
    that season generated with the rest.

    Every name is invented and every url is under ``https://example.invalid``. Ids sit above the
    real Ergast ranges: circuits and constructors from 901, drivers from 9001, ``race_id`` is
    ``year * 100 + round`` and row ids are ``race_id * 100 + n``. Status ids are the real ones.

    Scoring is the 2019-2024 system for every season: 25-18-15-12-10-8-6-4-2-1 for the race plus
    one point for the fastest lap if its driver finishes in the top 10 (``fastest_lap_point``), and
    8-7-6-5-4-3-2-1 for sprints, held at ``sprints_per_season`` rounds of every season from
    ``first_sprint_season`` on. Sprint points count in standings and constructor results.
    """

    name: SourceName = SOURCE

    def __init__(
        self,
        seed: int = 2024,
        *,
        first_season: int = 2020,
        num_seasons: int = 5,
        races_per_season: int = 12,
        teams: int = 10,
        first_sprint_season: int = 2021,
        sprints_per_season: int = 3,
        fastest_lap_point: bool = True,
    ) -> None:
        self.config = DemoConfig(
            seed=seed,
            first_season=first_season,
            num_seasons=num_seasons,
            races_per_season=races_per_season,
            teams=teams,
            first_sprint_season=first_sprint_season,
            sprints_per_season=sprints_per_season,
            fastest_lap_point=fastest_lap_point,
        )
        self._world: _World | None = None
        self._seasons: dict[int, dict[str, pa.Table]] = {}

    def seasons(self) -> list[int]:
        """The configured seasons, ascending."""
        return self.config.years

    def calendar(self, season: int) -> list[tuple[int, date]]:
        """(round, date) of the season's synthetic races."""
        return calendar_of(self.season_table("races", season))

    def columns_not_provided(self, table: str) -> tuple[str, ...]:
        """The generator fills every contract column."""
        return ()

    def reference_table(self, table: str) -> pa.Table:
        """Circuits, constructors, drivers, seasons or status, conformed to the contract."""
        _check_table(table, season_scoped=False)
        columns = _reference_columns(self.config, self._get_world(), table)
        return conform(pa.table(columns), table, source=SOURCE, where=f"seed {self.config.seed}")

    def season_table(self, table: str, season: int) -> pa.Table:
        """One season's rows of a race-scoped table; zero rows for a season outside the range."""
        _check_table(table, season_scoped=True)
        if season not in self.config.years:
            return empty_table(table)
        if season not in self._seasons:
            self._seasons[season] = _generate_season(self.config, self._get_world(), season)
        return self._seasons[season][table]

    def _get_world(self) -> _World:
        # Cheap, but built lazily so constructing a source does no work.
        if self._world is None:
            self._world = _WorldBuilder(self.config).build()
        return self._world


def _check_table(table: str, *, season_scoped: bool) -> None:
    if table not in TABLES:
        raise ValueError(f"unknown Ergast table {table!r}; expected one of {sorted(TABLES)}")
    if TABLES[table].season_scoped != season_scoped:
        other = "season_table()" if TABLES[table].season_scoped else "reference_table()"
        raise ValueError(
            f"{table!r} is {'not ' if season_scoped else ''}season-scoped; use {other}"
        )
