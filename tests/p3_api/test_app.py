"""The API process: health, readiness, the query route's formats, and errors as problem documents."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import ApiServer, StartApi, publish_copy

SPEC = {"entity": "driver", "metrics": ["wins", "podiums"], "limit": 5, "order_by": ["-wins"]}


def test_health_and_readiness_report_the_published_build(
    api: ApiServer, snapshot: PublishedSnapshot
) -> None:
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    build = snapshot.query("select build_id from p3_meta.build")[0][0]
    assert ready.status_code == 200
    assert ready.json()["snapshot"]["build_id"] == build


def test_a_query_answers_in_the_format_accept_asks_for(
    api: ApiServer, snapshot: PublishedSnapshot
) -> None:
    top = snapshot.query(
        "select count(*) filter (where is_win) as wins from marts.fct_race_results "
        "group by driver_id order by wins desc limit 1"
    )[0][0]
    with api.client() as client:
        as_json = client.post("/v1/query", json=SPEC)
        as_csv = client.post("/v1/query", json=SPEC, headers={"Accept": "text/csv"})
        as_parquet = client.post(
            "/v1/query", json=SPEC, headers={"Accept": "application/vnd.apache.parquet"}
        )
        as_arrow = client.post(
            "/v1/query", json=SPEC, headers={"Accept": "application/vnd.apache.arrow.stream"}
        )
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["rows"][0]["wins"] == top
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].endswith("wins,podiums")
    assert pq.read_table(io.BytesIO(as_parquet.content)).column("wins")[0].as_py() == top
    assert ipc.open_stream(as_arrow.content).read_all().num_rows == 5
    assert as_json.headers["x-p3-build"] == as_csv.headers["x-p3-build"]


def test_bad_requests_are_problem_documents_naming_the_field(api: ApiServer) -> None:
    with api.client() as client:
        unknown_metric = client.post("/v1/query", json={**SPEC, "metrics": ["nope"]})
        unknown_ref = client.post("/v1/query", json={**SPEC, "ids": ["no-such-driver"]})
        not_json = client.post(
            "/v1/query", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        too_large = client.post(
            "/v1/query", content=b" " * 100_000, headers={"Content-Type": "application/json"}
        )
        missing = client.get("/v1/nothing-here")
    for response, status in [
        (unknown_metric, 422),
        (unknown_ref, 422),
        (not_json, 422),
        (too_large, 413),
        (missing, 404),
    ]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == status and body["detail"]
        assert "Traceback" not in response.text
    assert (
        "metrics" in unknown_metric.json()["detail"] and "nope" in unknown_metric.json()["detail"]
    )
    assert "no-such-driver" in unknown_ref.json()["detail"]


def test_without_a_snapshot_the_api_runs_and_says_why_it_is_not_ready(
    start_api: StartApi, tmp_path: Path
) -> None:
    server = start_api(tmp_path / "never-published.duckdb", workers=1)
    with server.client() as client:
        ready = client.get("/readyz")
        query = client.post("/v1/query", json=SPEC)
    assert ready.status_code == 503
    assert "never-published.duckdb" in ready.json()["snapshot"]["error"]
    assert query.status_code == 503 and "never-published.duckdb" in query.json()["detail"]


def test_a_newly_published_snapshot_is_served_without_a_restart(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    served = tmp_path / "serving.duckdb"
    shutil.copyfile(snapshot.path, served)
    server = start_api(served, workers=1)
    with server.client() as client:
        before = client.post("/v1/query", json=SPEC).headers["x-p3-build"]
        publish_copy(snapshot.path, served, "republished")
        published = time.monotonic()
        # Cached answers of the old build are dropped within the watcher's half second.
        while (after := client.post("/v1/query", json=SPEC)).headers["x-p3-build"] != "republished":
            assert after.status_code == 200, after.text
            assert time.monotonic() - published < 1.5, "the old build was still served after 1.5 s"
            time.sleep(0.05)
    assert before != "republished"
    assert after.status_code == 200
