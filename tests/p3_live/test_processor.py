"""The stream processor on a real Redis: the state it keeps equals a pure fold of the race, with
duplicates, shared races, malformed events, a killed processor and a restarted Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from p3_common.settings import REPO_ROOT
from p3_live.events import FIELD, LapCompleted, encode
from p3_live.processor import Processor
from p3_live.replay import replay
from p3_live.state import RaceState, reduce, view
from p3_live.streams import Publisher, Race, connect, finished_key
from tests.fixtures.servers import RedisServer
from tests.p3_live.conftest import StoredRace


def folded(stored_race: StoredRace) -> RaceState:
    state = RaceState.empty(stored_race.season, stored_race.round)
    for timed in stored_race.events:
        state = reduce(state, timed.event)
    return state


def published_state(client: redis.Redis, race: Race) -> RaceState:
    raw = client.get(race.state)
    assert raw is not None, "no state was published"
    return RaceState.model_validate_json(raw)


def publish_all(client: redis.Redis, race: Race, stored_race: StoredRace) -> None:
    replay(stored_race.events, Publisher(client, race, maxlen=100_000), speed=None)


def test_the_processor_keeps_the_state_a_pure_fold_gives(
    redis_url: str, prefix: str, stored_race: StoredRace
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish_all(client, race, stored_race)
    counts = Processor(client, prefix, "only").run([race], until_finished=True)
    expected = folded(stored_race)
    assert published_state(client, race) == expected
    assert counts.applied == len(stored_race.events) and counts.dead == 0
    assert json.loads(client.get(race.view)) == view(expected)
    # One published state per applied event, readable in order (what SSE clients read).
    assert client.xlen(race.states) == counts.applied
    assert client.xpending(race.events, "processors")["pending"] == 0
    assert client.xrange(finished_key(prefix))[0][1] == {
        "season": str(race.season),
        "round": str(race.round),
    }


def test_events_published_twice_count_once(
    redis_url: str, prefix: str, stored_race: StoredRace
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish_all(client, race, stored_race)
    publish_all(client, race, stored_race)  # e.g. a replay retrying after a lost connection
    counts = Processor(client, prefix, "only").run([race], until_finished=True)
    assert published_state(client, race) == folded(stored_race)
    assert counts.applied == len(stored_race.events)
    assert counts.duplicate == len(stored_race.events)
    assert client.xlen(finished_key(prefix)) == 1


def test_two_processors_share_a_race(redis_url: str, prefix: str, stored_race: StoredRace) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish_all(client, race, stored_race)
    processors = [Processor(connect(redis_url), prefix, name, batch=10) for name in ("p1", "p2")]
    threads = [
        threading.Thread(target=p.run, args=([race],), kwargs={"until_finished": True})
        for p in processors
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert published_state(client, race) == folded(stored_race)
    assert all(p.counts.applied > 0 for p in processors), "one processor did all the work"
    assert sum(p.counts.applied for p in processors) == len(stored_race.events)


def test_a_malformed_event_is_dead_lettered_and_the_race_goes_on(
    redis_url: str, prefix: str, stored_race: StoredRace
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish = Publisher(client, race, maxlen=100_000)
    middle = len(stored_race.events) // 2
    for index, timed in enumerate(stored_race.events):
        if index == middle:
            client.xadd(race.events, {FIELD: '{"type": "lap", "season": 2019'})
            client.xadd(race.events, {"evnt": "{}"})
            stranger = LapCompleted(
                season=race.season, round=race.round, driver_id=999_999, lap=1,
                lap_time_ms=90_000, position=1, elapsed_ms=90_000,
            )  # fmt: skip
            client.xadd(race.events, encode(stranger))
        publish(timed.event)
    counts = Processor(client, prefix, "only").run([race], until_finished=True)
    assert published_state(client, race) == folded(stored_race)
    assert counts.dead == 3
    reasons = [fields["reason"] for _, fields in client.xrange(race.dead)]
    assert "Invalid JSON" in reasons[0]
    assert reasons[1] == "no 'event' field (fields: evnt)"
    assert "driver 999999, who is not on the entry list" in reasons[2]
    assert client.xpending(race.events, "processors")["pending"] == 0


def test_a_restarted_processor_resumes_from_its_pending_entries(
    redis_url: str, prefix: str, stored_race: StoredRace
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish_all(client, race, stored_race)
    first = Processor(client, prefix, "worker", batch=50)
    first.run([race], stop=_stop_after(first, 200))
    # Then it read a batch and died before applying it: those entries stay pending on it.
    client.xreadgroup("processors", "worker", {race.events: ">"}, count=50)
    assert client.xpending(race.events, "processors")["pending"] == 50
    again = Processor(client, prefix, "worker", batch=50)
    again.run([race], until_finished=True)
    assert published_state(client, race) == folded(stored_race)
    assert first.counts.applied + again.counts.applied == len(stored_race.events)
    assert again.counts.duplicate == 0


def _stop_after(processor: Processor, applied: int) -> threading.Event:
    """An event that is set once ``processor`` applied ``applied`` entries (checked per step)."""
    stop = threading.Event()
    original = processor.step

    def step(races):  # type: ignore[no-untyped-def]
        handled = original(races)
        if processor.counts.applied >= applied:
            stop.set()
        return handled

    processor.step = step  # type: ignore[method-assign]
    return stop


def _process(
    url: str, prefix: str, race: Race, consumer: str, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    environment = os.environ | {
        "P3_LIVE_REDIS_URL": url,
        "P3_LIVE_KEY_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    return subprocess.Popen(
        [
            sys.executable, "-m", "p3_live", "process",
            "--season", str(race.season), "--round", str(race.round),
            "--consumer", consumer, "--until-finished", "--no-model",
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_a_killed_processor_process_is_taken_over_and_no_lap_counts_twice(
    redis_url: str, prefix: str, stored_race: StoredRace, tmp_path: Path
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish_all(client, race, stored_race)
    victim = _process(redis_url, prefix, race, "victim", tmp_path / "victim.log")
    deadline = time.monotonic() + 120
    while int(client.get(race.version) or 0) < len(stored_race.events) // 3:
        assert victim.poll() is None, (tmp_path / "victim.log").read_text()
        assert time.monotonic() < deadline, "the processor made no progress"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    halfway = published_state(client, race)
    assert halfway.status == "running", "the race ended before the kill: nothing to resume"
    # Another processor claims what the dead one left pending (idle for 200 ms).
    rescuer = _process(
        redis_url, prefix, race, "rescuer", tmp_path / "rescuer.log", P3_LIVE_CLAIM_IDLE_MS="200"
    )
    assert rescuer.wait(timeout=300) == 0, (tmp_path / "rescuer.log").read_text()
    final = published_state(client, race)
    assert final == folded(stored_race)
    assert final.events_applied == len(stored_race.events)
    laps = sum(isinstance(e.event, LapCompleted) for e in stored_race.events)
    assert sum(len(d.laps) for d in final.drivers.values()) == laps
    assert client.xpending(race.events, "processors")["pending"] == 0


def test_replay_and_processor_ride_out_a_redis_restart(
    own_redis: RedisServer, stored_race: StoredRace
) -> None:
    prefix = "p3:live"
    client = connect(own_redis.url)
    race = Race(prefix, stored_race.season, stored_race.round)
    race_seconds = stored_race.events[-1].at_ms / 1000
    speed = race_seconds / 6  # the whole race in about six seconds
    publisher = Publisher(connect(own_redis.url), race, maxlen=100_000, deadline_seconds=30)
    processor = Processor(connect(own_redis.url), prefix, "survivor", reconnect_seconds=30)
    errors: list[BaseException] = []

    def guarded(target, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            target(*args, **kwargs)
        except BaseException as exc:  # re-raised by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(replay, stored_race.events, publisher), kwargs={"speed": speed}),
        threading.Thread(target=guarded, args=(processor.run, [race]), kwargs={"until_finished": True}),
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    time.sleep(2)
    applied_before = processor.counts.applied
    run_id = client.info("server")["run_id"]
    own_redis.kill()
    time.sleep(3.0)  # longer than the client's own retries: the loops must reconnect themselves
    own_redis.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert 0 < applied_before < len(stored_race.events), "the restart did not fall mid-race"
    assert processor.counts.reconnects > 0
    assert client.info("server")["run_id"] != run_id  # a new server process, restored from its AOF
    assert published_state(client, race) == folded(stored_race)
    assert publisher.published == len(stored_race.events)


def test_a_stream_deleted_under_a_blocked_processor_is_started_again(
    redis_url: str, prefix: str, stored_race: StoredRace
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    publish_all(client, race, stored_race)
    Processor(client, prefix, "first").run([race], until_finished=True)
    waiting = Processor(connect(redis_url), prefix, "waiting", block_ms=5_000)
    stop = threading.Event()
    worker = threading.Thread(target=waiting.run, args=([race],), kwargs={"stop": stop})
    worker.start()
    time.sleep(1.0)  # blocked in XREADGROUP on the race's stream...
    client.delete(race.events, race.state, race.version, race.states, race.view)  # UNBLOCKED
    time.sleep(0.5)
    assert worker.is_alive(), "the processor died with its stream"
    publish_all(client, race, stored_race)  # the race again, on a new stream
    deadline = time.monotonic() + 120
    while client.get(race.state) is None or published_state(client, race).status != "finished":
        assert time.monotonic() < deadline and worker.is_alive()
        time.sleep(0.1)
    stop.set()
    worker.join(timeout=30)
    assert published_state(client, race) == folded(stored_race)
    assert waiting.counts.applied == len(stored_race.events)


@pytest.mark.parametrize("missing", ["--season", "--round"])
def test_process_needs_season_and_round_together(missing: str, redis_url: str) -> None:
    args = ["--season", "2019", "--round", "20"]
    index = args.index(missing)
    del args[index : index + 2]
    done = subprocess.run(
        [sys.executable, "-m", "p3_live", "process", *args],
        cwd=REPO_ROOT,
        env=os.environ | {"P3_LIVE_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "p3 live: give both --season and --round, or neither (every race in Redis)"
    )
