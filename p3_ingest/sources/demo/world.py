"""The synthetic world of the demo championship: everything a race is run in.

Configuration and seeded random streams, the fixed reference data (Ergast status ids, demo id
ranges), invented teams, drivers and circuits, how they evolve between seasons (line-ups and
performance levels), and each season's calendar.
"""

from __future__ import annotations

import math
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

import numpy as np

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

# Race distance sets each circuit's lap count.
RACE_DISTANCE_KM = 305.0
MAX_RACE_LAPS = 78

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


def seeded_rng(config: DemoConfig, year: int, purpose: str, round_: int = 0) -> np.random.Generator:
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


@dataclass(frozen=True)
class Seat:
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
class World:
    """Everything that persists across seasons, built once from the seed for every season."""

    teams: list[_Team]
    circuits: list[_Circuit]
    drivers: list[_Driver] = field(default_factory=list)
    seats: dict[int, list[Seat]] = field(default_factory=dict)


class WorldBuilder:
    """Evolves teams, drivers and line-ups season by season from per-season random streams."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.namer = _Namer()
        self.world = World(
            teams=_make_teams(seeded_rng(config, 0, "teams"), config.teams, self.namer),
            # Two spare circuits so calendars rotate a little from season to season.
            circuits=_make_circuits(
                seeded_rng(config, 0, "circuits"), config.races_per_season + 2, self.namer
            ),
        )
        self.team_states: dict[int, _TeamState] = {}
        self.driver_states: dict[int, _DriverState] = {}
        self.lineup: dict[int, list[int]] = {}

    def build(self) -> World:
        for index, year in enumerate(self.config.years):
            rng = seeded_rng(self.config, year, "world")
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
    rng: np.random.Generator, states: dict[int, _DriverState], world: World, year: int
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
    world: World,
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
    world: World,
    lineup: dict[int, list[int]],
    team_states: dict[int, _TeamState],
    driver_states: dict[int, _DriverState],
) -> list[Seat]:
    numbers = {d.driver_id: d.number for d in world.drivers}
    seats = []
    for team in world.teams:
        state = team_states[team.constructor_id]
        for driver_id in lineup[team.constructor_id]:
            skill = driver_states[driver_id]
            seats.append(
                Seat(
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
            )
        )
    return circuits


def _new_driver(
    rng: np.random.Generator, world: World, namer: _Namer, year: int, *, rookie: bool
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


def _free_number(rng: np.random.Generator, world: World) -> int:
    # Permanent numbers 2-99 (1 is the champion's); reused only once all have been handed out.
    used = {d.number for d in world.drivers}
    free = [n for n in range(2, 100) if n not in used]
    if not free:
        free = list(range(2, 100))
    return free[int(rng.integers(len(free)))]


def _free_code(rng: np.random.Generator, world: World, surname: str) -> str:
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


# --- Calendar ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Race:
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


def season_calendar(config: DemoConfig, world: World, year: int) -> list[Race]:
    rng = seeded_rng(config, year, "calendar")
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
        Race(
            race_id=year * 100 + rnd,
            year=year,
            round=rnd,
            circuit=circuit,
            day=first_sunday + timedelta(weeks=int(weeks[rnd - 1])),
            is_sprint=rnd in sprint_rounds,
        )
        for rnd, circuit in enumerate(circuits, start=1)
    ]
