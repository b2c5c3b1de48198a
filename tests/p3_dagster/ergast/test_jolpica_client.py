"""Tests of the Jolpica HTTP client against a real local server: limits, retries, paging, errors."""

from __future__ import annotations

import json
import math
import socket
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.compute as pc
import pytest

from p3_common.settings import JOLPICA_BASE_URL
from p3_ingest.sources.errors import SourceError
from p3_ingest.sources.jolpica import (
    MAX_PAGE_SIZE,
    RESOURCES,
    JolpicaClient,
    RateBudgetExhaustedError,
    RateLimiter,
    count_rows,
    merge_page,
    parse_retry_after,
)

if TYPE_CHECKING:
    from tests.p3_dagster.ergast.jolpica_server import ContractCsv, FakeClock, JolpicaTestServer

MakeClient = Callable[..., JolpicaClient]


def _max_in_window(times: list[float], window: float) -> int:
    """Most events inside any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window))
    return best


# --------------------------------------------------------------------------- rate limiter


def test_defaults_match_jolpica_unauthenticated_limits() -> None:
    with JolpicaClient() as client:
        assert client.base_url == JOLPICA_BASE_URL
        assert client.page_size == MAX_PAGE_SIZE == 100
        assert client.limiter.per_second == 4
        assert client.limiter.per_hour == 500
        assert client.current_rate == 4.0


def test_burst_limit_allows_at_most_four_requests_in_any_second(fake_clock: FakeClock) -> None:
    limiter = RateLimiter(clock=fake_clock, sleep=fake_clock.pace)
    times = []
    for _ in range(40):
        limiter.acquire()
        times.append(fake_clock())
    assert _max_in_window(times, 1.0) == 4
    assert times[-1] - times[0] == pytest.approx(39 / 4)  # steady 4/s, no slower than needed


def test_hourly_budget_spreads_requests_over_hours(fake_clock: FakeClock) -> None:
    limiter = RateLimiter(per_hour=10, max_wait=4000, clock=fake_clock, sleep=fake_clock.pace)
    times = []
    for _ in range(25):
        limiter.acquire()
        times.append(fake_clock())
    assert _max_in_window(times, 3600.0) == 10
    assert times[-1] - times[0] >= 2 * 3600


def test_hourly_budget_exhausted_raises_instead_of_waiting_most_of_an_hour(
    fake_clock: FakeClock,
) -> None:
    limiter = RateLimiter(per_hour=3, clock=fake_clock, sleep=fake_clock.pace)
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(RateBudgetExhaustedError, match=r"hourly request budget \(3/h\)") as info:
        limiter.acquire()
    assert info.value.wait > limiter.max_wait
    assert max(fake_clock.paces) < 1.0  # it never slept towards the hour


def test_throttle_halves_rate_and_successes_restore_it_gradually() -> None:
    limiter = RateLimiter(recovery_step=0.5)
    limiter.on_throttled()
    assert limiter.current_rate == 2.0
    limiter.on_throttled()
    assert limiter.current_rate == 1.0
    rates = []
    for _ in range(10):
        limiter.on_success()
        rates.append(limiter.current_rate)
    assert rates[:3] == [1.5, 2.0, 2.5]
    assert rates[-1] == 4.0  # capped at the burst rate


def test_repeated_throttles_never_drop_rate_below_minimum() -> None:
    limiter = RateLimiter(min_rate=0.25)
    for _ in range(20):
        limiter.on_throttled()
    assert limiter.current_rate == 0.25


def test_lowered_rate_spaces_requests_further_apart(fake_clock: FakeClock) -> None:
    limiter = RateLimiter(clock=fake_clock, sleep=fake_clock.pace)
    limiter.on_throttled()  # 2 requests/s
    times = []
    for _ in range(5):
        limiter.acquire()
        times.append(fake_clock())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps == pytest.approx([0.5] * 4)


# --------------------------------------------------------------------------- pure helpers


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def _samples(ergast_dir: Path) -> Path:
    folder = ergast_dir.parent / "ergast-api-samples"
    if not folder.is_dir():
        pytest.skip(f"API samples not found at {folder}")
    return folder


def test_merge_joins_a_lap_split_across_pages_of_the_real_sample(ergast_dir: Path) -> None:
    page = json.loads((_samples(ergast_dir) / "laps_2023_round18_offset45.json").read_text())
    race = page["MRData"]["RaceTable"]["Races"][0]
    # The real page starts mid-lap 3 at offset 45; rebuild its predecessor's tail (lap 3, P1-P5).
    head = {**race, "Laps": [{"number": "3", "Timings": [{"driverId": f"d{i}"} for i in range(5)]}]}
    merged: list[dict] = []
    merge_page(merged, [head], RESOURCES["laps"])
    merge_page(merged, [race], RESOURCES["laps"])
    assert len(merged) == 1
    laps = merged[0]["Laps"]
    assert [lap["number"] for lap in laps] == ["3", "4"]
    assert len(laps[0]["Timings"]) == 5 + 15
    assert count_rows(merged, RESOURCES["laps"]) == 5 + 30


def test_merge_joins_a_race_split_across_pages_of_the_real_sample(ergast_dir: Path) -> None:
    page = json.loads(
        (_samples(ergast_dir) / "results_constructors_brawn_offset15.json").read_text()
    )
    races = page["MRData"]["RaceTable"]["Races"]
    first = races[0]  # 2009 British GP: this page carries only one of Brawn's two results
    earlier = [{**first, "Results": [{"number": "23", "Driver": {"driverId": "barrichello"}}]}]
    merged: list[dict] = []
    merge_page(merged, earlier, RESOURCES["results"])
    merge_page(merged, races, RESOURCES["results"])
    assert [(r["season"], r["round"]) for r in merged] == [(r["season"], r["round"]) for r in races]
    assert len(merged[0]["Results"]) == 2
    mrdata = page["MRData"]
    assert count_rows(merged, RESOURCES["results"]) == 1 + int(mrdata["total"]) - int(
        mrdata["offset"]
    )


# --------------------------------------------------------------------------- pagination


def test_results_split_across_pages_merge_into_one_race(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client(page_size=7)
    race = client.race(2023, 9, "results")
    assert race is not None
    assert [int(r["position"]) for r in race["Results"]] == list(range(1, 21))
    offsets = [r.query["offset"] for r in jolpica_server.requests]
    assert offsets == ["0", "7", "14"]
    assert all(r.query["limit"] == "7" for r in jolpica_server.requests)


def test_laps_split_mid_lap_merge_by_lap_number(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, contract_csv: ContractCsv
) -> None:
    client = make_client(page_size=30)  # the samples' page size: lap 3 of round 18 straddles a page
    race = client.race(2023, 18, "laps")
    assert race is not None
    numbers = [int(lap["number"]) for lap in race["Laps"]]
    assert numbers == sorted(set(numbers))
    laps = contract_csv.table("lap_times")
    expected = Counter(laps.filter(pc.equal(laps["race_id"], 1116))["lap"].to_pylist())  # US GP
    assert {int(lap["number"]): len(lap["Timings"]) for lap in race["Laps"]} == expected
    assert len(jolpica_server.requests) == math.ceil(expected.total() / 30)


def test_full_page_size_fetches_a_race_of_laps_in_few_requests(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    race = make_client().race(2023, 1, "laps")
    assert race is not None
    assert sum(len(lap["Timings"]) for lap in race["Laps"]) == 1055  # ergast.com's total, sample
    assert len(jolpica_server.requests) == 11


def test_total_changing_between_pages_raises_instead_of_losing_rows(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client(page_size=7)
    jolpica_server.shift_total_next(+3)  # page 1 claims 23 results, later pages 20
    with pytest.raises(SourceError, match=r"pagination mismatch: totals \[20, 23\]") as info:
        client.race(2023, 9, "results")
    assert f"{jolpica_server.base_url}/2023/9/results.json" in str(info.value)
    assert [r.query["offset"] for r in jolpica_server.requests] == ["0", "7", "14"]


def test_out_of_range_round_is_empty_not_an_error(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    assert client.race(2023, 99, "results") is None
    assert client.standings(2023, 99, "driverStandings") is None
    assert len(jolpica_server.requests) == 2


# --------------------------------------------------------------------------- retries


def test_429_retry_after_is_honoured_and_rate_lowered(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client()
    jolpica_server.fail_next(429, retry_after="2")
    seasons = client.seasons()
    assert len(seasons) == 75
    assert fake_clock.sleeps == [2.0]
    assert client.stats.throttled == 1
    assert client.stats.retries == 1
    assert client.current_rate == pytest.approx(2.0 + client.limiter.recovery_step)
    assert len(jolpica_server.requests) == 2


def test_429_without_retry_after_backs_off_exponentially(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client()
    jolpica_server.fail_next(429, times=2)
    client.seasons()
    assert fake_clock.sleeps == [1.0, 2.0]
    assert client.current_rate < 4.0 / 2  # halved twice, one success since


def test_5xx_is_retried_with_exponential_backoff_then_succeeds(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client()
    jolpica_server.fail_next(503, times=1)
    jolpica_server.fail_next(500, times=1)
    assert len(client.reference("circuits")) == 77
    assert fake_clock.sleeps == [1.0, 2.0]
    assert client.stats.server_errors == 2
    assert client.stats.retries == 2
    assert client.current_rate == 4.0  # 5xx is not throttling


def test_persistent_5xx_gives_up_with_source_error_naming_url(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client(max_attempts=3)
    jolpica_server.fail_next(500, times=None)
    with pytest.raises(SourceError) as info:
        client.schedule(2023)
    message = str(info.value)
    assert f"{jolpica_server.base_url}/2023.json?limit=100&offset=0" in message
    assert "gave up after 3 attempts" in message and "HTTP 500" in message
    assert info.value.source == "jolpica" and info.value.table == "races"
    assert len(jolpica_server.requests) == 3
    assert fake_clock.sleeps == [1.0, 2.0]


def test_backoff_waits_are_capped(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client(max_attempts=6, backoff_max=5.0)
    jolpica_server.fail_next(502, times=5)
    client.seasons()
    assert fake_clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_long_retry_after_fails_fast_with_clear_throttling_error(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client()
    jolpica_server.fail_next(429, retry_after="3600")
    with pytest.raises(SourceError, match=r"throttled us \(HTTP 429\).*wait 3600 s") as info:
        client.seasons()
    assert f"{jolpica_server.base_url}/seasons.json" in str(info.value)
    assert fake_clock.sleeps == []
    assert len(jolpica_server.requests) == 1


def test_timeout_is_retried_then_succeeds(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client(timeout=0.1)
    jolpica_server.slow_next(0.4)
    assert len(client.seasons()) == 75
    assert client.stats.transport_errors == 1
    assert fake_clock.sleeps == [1.0]
    assert len(jolpica_server.requests) == 2


def test_persistent_timeout_raises_source_error_naming_url(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client(timeout=0.1, max_attempts=2)
    jolpica_server.slow_next(0.4, times=None, path="/status")
    with pytest.raises(SourceError, match="timed out") as info:
        client.reference("status")
    assert f"{jolpica_server.base_url}/status.json" in str(info.value)
    assert client.stats.transport_errors == 2


def test_unreachable_host_raises_source_error_naming_url_and_cause(
    make_client: MakeClient, fake_clock: FakeClock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/ergast/f1"
    client = make_client(base_url=base, max_attempts=3)
    with pytest.raises(SourceError) as info:
        client.seasons()
    message = str(info.value)
    assert f"{base}/seasons.json" in message
    assert "connection failed (ConnectError" in message
    assert client.stats.transport_errors == 3
    assert fake_clock.sleeps == [1.0, 2.0]


def test_client_errors_are_not_retried(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    with pytest.raises(SourceError, match="HTTP 404"):
        client.fetch_all("2023/1/nonsense", "results")
    assert len(jolpica_server.requests) == 1


# --------------------------------------------------------------------------- bad bodies


def test_truncated_json_raises_source_error_naming_url(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    jolpica_server.truncate_next()
    with pytest.raises(SourceError, match="invalid or truncated JSON") as info:
        client.race(2023, 9, "results")
    assert f"{jolpica_server.base_url}/2023/9/results.json" in str(info.value)
    assert info.value.table == "results"
    assert len(jolpica_server.requests) == 1  # content errors are not retried


def test_json_without_mrdata_table_raises_source_error(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    jolpica_server.drop_mrdata_next()
    with pytest.raises(SourceError, match=r"no MRData\.DriverTable\.Drivers") as info:
        client.reference("drivers")
    assert f"{jolpica_server.base_url}/drivers.json" in str(info.value)


def test_response_for_a_different_table_is_rejected(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    with pytest.raises(SourceError, match=r"no MRData\.StandingsTable"):
        client.fetch_all("2023/1/results", "driverStandings")


# --------------------------------------------------------------------------- limits end to end


def test_burst_limit_holds_against_the_server(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    for round_ in range(1, 13):
        client.race(2023, round_, "pitstops")
    times = [r.at for r in jolpica_server.requests]
    assert len(times) == 12
    assert _max_in_window(times, 1.0) <= 4


def test_hourly_budget_exhausted_fails_with_clear_error(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client(limiter={"per_hour": 3})
    for _ in range(3):
        client.seasons()
    with pytest.raises(SourceError, match=r"hourly request budget \(3/h\) used up") as info:
        client.seasons()
    assert "rerun later" in str(info.value)
    assert len(jolpica_server.requests) == 3


def test_requests_reuse_one_keep_alive_connection(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    client.seasons()
    client.schedule(2023)
    client.race(2023, 1, "laps")  # 11 pages
    ports = {r.client_port for r in jolpica_server.requests}
    assert len(jolpica_server.requests) == 13
    assert len(ports) == 1


def test_counters_are_exposed_as_metadata(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = make_client()
    jolpica_server.fail_next(503)
    client.seasons()
    metadata = client.stats.as_metadata()
    assert metadata["jolpica_requests"] == 2
    assert metadata["jolpica_pages"] == 1
    assert metadata["jolpica_retries"] == 1
    assert metadata["jolpica_server_errors"] == 1
    assert metadata["jolpica_throttled"] == 0


# --------------------------------------------------------------------------- overall deadlines


def real_time_client(make_client: MakeClient, **overrides: object) -> JolpicaClient:
    """A client of the local server on the real clock (deadlines are about wall time)."""
    import time

    return make_client(
        clock=time.monotonic,
        sleep=time.sleep,
        limiter={"clock": time.monotonic, "sleep": time.sleep},
        **overrides,
    )


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_defaults_bound_a_request_to_a_minute_and_a_table_to_ten() -> None:
    with JolpicaClient() as client:
        assert (client.request_deadline, client.step_deadline) == (60.0, 600.0)


def test_a_server_that_stalls_every_response_fails_at_the_request_deadline(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    client = real_time_client(make_client, timeout=0.5, request_deadline=1.5, backoff_initial=0.1)
    jolpica_server.slow_next(30, times=None, path="/status")
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="p3_ingest.sources.jolpica.client"):
        with pytest.raises(SourceError) as info:
            client.reference("status")
    elapsed = time.monotonic() - started
    assert elapsed < 2.5  # the deadline plus scheduling slack, not attempts x timeout
    message = one_line(info.value)
    assert f"{jolpica_server.base_url}/status.json?limit=100&offset=0" in message
    assert "no complete answer within the 1.5 s request deadline" in message
    assert "(P3_JOLPICA_REQUEST_DEADLINE_SECONDS)" in message
    # Each retry said what it retried and why, and how much time was left.
    retries = [r.getMessage() for r in caplog.records]
    assert retries and len(retries) == client.stats.retries
    assert retries[0].startswith(f"jolpica: retrying {jolpica_server.base_url}/status.json")
    assert "(attempt 2 of 5) after: timed out (ReadTimeout" in retries[0]
    assert "s left of the 1.5 s request deadline" in retries[0]


def test_a_server_that_trickles_a_byte_at_a_time_fails_at_the_request_deadline(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    import time

    # A byte every 50 ms never trips the 0.5 s read timeout; the body would take minutes.
    client = real_time_client(make_client, timeout=0.5, request_deadline=1.0)
    jolpica_server.trickle_next(0.05, times=None, path="/seasons")
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        client.seasons()
    assert time.monotonic() - started < 2.0
    message = one_line(info.value)
    assert f"{jolpica_server.base_url}/seasons.json?limit=100&offset=0" in message
    assert "no complete answer within the 1 s request deadline" in message
    assert "the body was still arriving" in message


def test_a_slow_trickle_within_the_deadline_is_read_whole(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    client = real_time_client(make_client, timeout=0.5, request_deadline=10.0, page_size=1)
    jolpica_server.trickle_next(0.001, path="/seasons")
    assert client.fetch_all("seasons", "seasons")  # page by page, the first one trickled
    assert client.stats.retries == 0


def test_the_step_deadline_bounds_a_whole_table_load(
    make_client: MakeClient, jolpica_server: JolpicaTestServer
) -> None:
    import time

    # Every page answers in 0.2 s (no timeout, no retry), but a table needs many pages.
    client = real_time_client(make_client, timeout=2.0, step_deadline=1.0, page_size=5)
    jolpica_server.slow_next(0.2, times=None, path="/drivers")
    client.start_step("drivers")
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        client.reference("drivers")
    assert time.monotonic() - started < 2.0
    message = one_line(info.value)
    assert f"{jolpica_server.base_url}/drivers.json?limit=5&offset=" in message
    assert "the 1 s step (drivers) deadline (P3_JOLPICA_STEP_DEADLINE_SECONDS)" in message
    # A new step starts a new clock (a one-page answer: a round that does not exist).
    client.start_step("results 2024")
    assert client.race(2024, 99, "results") is None


def test_a_retry_after_beyond_the_deadline_fails_at_once(
    make_client: MakeClient, jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> None:
    client = make_client(request_deadline=30.0)
    jolpica_server.fail_next(429, retry_after="45")
    with pytest.raises(SourceError, match="within the 30 s request deadline") as info:
        client.seasons()
    assert "last failure: throttled (HTTP 429)" in one_line(info.value)
    assert fake_clock.sleeps == []  # it did not sleep towards a wait it could not finish


def test_the_deadline_settings_reach_the_source_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    from p3_common.settings import load_settings
    from p3_dagster.defs.resources import build_source_resource

    monkeypatch.setenv("P3_JOLPICA_REQUEST_DEADLINE_SECONDS", "12.5")
    monkeypatch.setenv("P3_JOLPICA_STEP_DEADLINE_SECONDS", "90")
    resource = build_source_resource(load_settings())
    assert resource.jolpica_request_deadline_seconds == 12.5
    assert resource.jolpica_step_deadline_seconds == 90.0


def test_each_table_load_of_the_source_gets_its_own_step_deadline(
    make_source: Callable[..., object], jolpica_server: JolpicaTestServer
) -> None:
    import time

    source = make_source(
        clock=time.monotonic,
        sleep=time.sleep,
        limiter={"clock": time.monotonic, "sleep": time.sleep},
        timeout=2.0,
        step_deadline=1.0,
    )
    jolpica_server.slow_next(0.3, times=None, path="/laps")  # ~20 rounds of laps: >> 1 s
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        source.season_table("lap_times", 2020)  # type: ignore[attr-defined]
    assert time.monotonic() - started < 2.5
    message = one_line(info.value)
    assert "/2020/" in message and "/laps.json" in message
    assert "the 1 s step (lap_times 2020) deadline (P3_JOLPICA_STEP_DEADLINE_SECONDS)" in message
