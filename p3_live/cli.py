"""``p3 live``: replay a stored race onto its Redis Stream, and run a stream processor."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from p3_common.settings import SettingsError, get_settings
from p3_common.snapshot import SnapshotError

from .config import LiveNotConfigured, LiveSettings, redis_url
from .enrichment import leaderboard_enrichment
from .processor import Processor
from .replay import RaceNotFound, load_race, replay
from .streams import Publisher, Race, connect

app = typer.Typer(help="Race day, live: replay or poll races into Redis Streams, and process them.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"p3 live: {message}", err=True)
    return typer.Exit(2)


def _setup() -> tuple[str, LiveSettings]:
    try:
        settings = get_settings()
        live = LiveSettings()
        return redis_url(settings, live), live
    except (SettingsError, LiveNotConfigured, ValueError) as exc:
        raise _fail(str(exc)) from None


@app.command("replay")
def replay_command(
    season: int,
    round: int,
    speed: Annotated[
        float, typer.Option(help="Times real time; 0 = as fast as Redis takes them.")
    ] = 60.0,
) -> None:
    """Replay a race of the published snapshot as timing events onto its Redis Stream."""
    url, live = _setup()
    try:
        events = load_race(get_settings().serving_duckdb_path or "", season, round)
    except (SnapshotError, RaceNotFound) as exc:
        raise _fail(str(exc)) from None
    race = Race(live.key_prefix, season, round)
    publish = Publisher(
        connect(url), race, maxlen=live.stream_maxlen, deadline_seconds=live.reconnect_seconds
    )
    minutes = events[-1].at_ms / 60_000 / speed if speed else 0
    typer.echo(f"replaying {len(events)} events to {race.events} (~{minutes:.1f} min)")
    count = replay(events, publish, speed=speed or None)
    typer.echo(f"published {count} events")


@app.command("poll")
def poll_command(
    season: int,
    round: int,
    laps: Annotated[
        int | None,
        typer.Option(help="Race distance; default: the last race at the circuit in the snapshot."),
    ] = None,
) -> None:
    """Follow a race live from the Ergast-compatible API (P3_LIVE_POLL_URL) onto its Redis Stream."""
    from .poller import ErgastApi, Poller, Throttle

    url, live = _setup()
    settings = get_settings()
    try:
        driver_ids, known_laps = _race_facts(settings.serving_duckdb_path, season, round)
    except SnapshotError as exc:
        raise _fail(str(exc)) from None
    total = laps or known_laps
    if not total:
        raise _fail(
            f"the snapshot does not know the distance of {season} round {round}: pass --laps"
        )
    race = Race(live.key_prefix, season, round)
    publish = Publisher(
        connect(url), race, maxlen=live.stream_maxlen, deadline_seconds=live.reconnect_seconds
    )
    throttle = Throttle(settings.jolpica_burst_per_second, settings.jolpica_hourly_limit)
    api = ErgastApi(str(live.poll_url), throttle, timeout=settings.jolpica_timeout_seconds)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    poller = Poller(api, publish, season, round, total, driver_ids)
    try:
        poller.run(live.poll_interval_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        api.close()
    typer.echo(f"published {publish.published} events with {api.requests} API requests")


def _race_facts(
    snapshot: Path | None, season: int, round: int
) -> tuple[dict[str, int], int | None]:
    """Driver ids by Ergast ref, and the laps of the latest race at this race's circuit."""
    from p3_common.snapshot import open_snapshot

    with open_snapshot(snapshot or Path()) as con:
        ids = dict(con.execute("select driver_ref, driver_id from marts.dim_drivers").fetchall())
        row = con.execute(
            """
            select max(r.laps) from marts.fct_race_results as r
            where r.circuit_id = (
                select circuit_id from marts.dim_races where season = ? and round = ?
            )
            and r.race_date = (
                select max(race_date) from marts.fct_race_results
                where circuit_id = r.circuit_id and laps > 0
            )
            """,
            [season, round],
        ).fetchone()
    return ids, (int(row[0]) if row and row[0] else None)


@app.command("process")
def process_command(
    season: Annotated[
        int | None, typer.Option(help="Only this season's race (with --round).")
    ] = None,
    round: Annotated[int | None, typer.Option(help="Only this round.")] = None,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name; reuse it to resume its pending entries.")
    ] = None,
    until_finished: Annotated[
        bool, typer.Option(help="Exit once every processed race is finished.")
    ] = False,
    model: Annotated[
        bool, typer.Option(help="Add in-race win/podium probabilities (needs a registered model).")
    ] = True,
) -> None:
    """Run a stream processor: keep each race's live state and publish it (Ctrl-C stops it)."""
    url, live = _setup()
    if (season is None) != (round is None):
        raise _fail("give both --season and --round, or neither (every race in Redis)")
    races = [Race(live.key_prefix, season, round)] if season and round else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    processor = Processor(
        connect(url),
        live.key_prefix,
        consumer or f"{socket.gethostname()}-{os.getpid()}",
        group=live.group,
        claim_idle_ms=live.claim_idle_ms,
        states_maxlen=live.states_maxlen,
        reconnect_seconds=live.reconnect_seconds,
    )
    processor.enrich = leaderboard_enrichment(with_model=model)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        counts = processor.run(races, stop=stop, until_finished=until_finished)
    except KeyboardInterrupt:
        counts = processor.counts
    typer.echo(
        f"applied {counts.applied}, duplicates {counts.duplicate}, dead-lettered {counts.dead}"
    )
