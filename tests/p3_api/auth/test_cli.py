"""``p3 api-keys create|list|revoke`` on the store under P3_HOME."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from p3_api.auth.store import SqliteStore
from p3_common.settings import get_settings
from p3_dagster.cli import app


def test_create_list_and_revoke_a_key(isolated_p3_env: Path) -> None:
    get_settings.cache_clear()
    runner = CliRunner()
    created = runner.invoke(app, ["api-keys", "create", "--owner", "ana", "--role", "analyst"])
    assert created.exit_code == 0, created.output
    key_id = created.stdout.split("key id: ")[1].split()[0]
    key = created.stdout.split("api key: ")[1].split()[0]
    client = runner.invoke(app, ["api-keys", "create", "--owner", "etl", "--client"])
    assert "client_secret: " in client.stdout
    listed = runner.invoke(app, ["api-keys", "list"])
    assert key_id in listed.stdout and "analyst" in listed.stdout and key not in listed.stdout
    assert runner.invoke(app, ["api-keys", "revoke", key_id]).exit_code == 0
    assert runner.invoke(app, ["api-keys", "revoke", key_id]).exit_code == 1
    stored = SqliteStore(isolated_p3_env / "api" / "keys.sqlite3").get(key_id)
    assert stored is not None and stored.revoked and stored.owner == "ana"
    get_settings.cache_clear()
