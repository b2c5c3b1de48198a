"""Publishing: copy the marts into a new snapshot file and atomically swap it over the published one."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from p3_common.snapshot import Snapshot, write_meta

PUBLISHED_SCHEMAS = ("marts",)


def publish_snapshot(
    warehouse: Path, published: Path, *, run_id: str, schemas: tuple[str, ...] = PUBLISHED_SCHEMAS
) -> Snapshot:
    """Copy ``schemas`` of ``warehouse`` into a fresh file, then ``os.replace`` it over ``published``.

    The build id is a hash of the copied content, so republishing unchanged marts keeps the id
    (and every cache keyed by it). Readers holding the old file keep reading it; new readers see
    the new file; nobody ever sees a half-written snapshot, and a failure before the rename leaves
    the previous snapshot and build id in place.
    """
    _refuse_same_file(warehouse, published)
    published.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging_files(published)
    staging = published.with_name(f".{published.name}.{os.getpid()}.{run_id[:8]}.tmp")
    try:
        tables = _copy_schemas(warehouse, staging, schemas)
        build_id = _content_hash(staging, tables)
        published_at = datetime.now(UTC)
        with duckdb.connect(str(staging)) as con:
            write_meta(
                con, build_id=build_id, published_at=published_at, run_id=run_id, tables=tables
            )
            con.execute("CHECKPOINT")
        _fsync(staging)
        os.replace(staging, published)
        _fsync(published.parent)
    finally:
        staging.unlink(missing_ok=True)
    return Snapshot(build_id, published_at, run_id, published, tables)


def _refuse_same_file(warehouse: Path, published: Path) -> None:
    # os.replace over the warehouse would swap the live warehouse for a marts-only copy.
    same = warehouse.resolve() == published.resolve()
    if not same and warehouse.exists() and published.exists():
        same = os.path.samefile(warehouse, published)  # hard links, bind mounts
    if same:
        raise ValueError(
            f"refusing to publish over the warehouse: the snapshot path {published} is the "
            f"warehouse file {warehouse}; set P3_SERVING_DUCKDB_PATH to its own file"
        )


def _copy_schemas(warehouse: Path, target: Path, schemas: tuple[str, ...]) -> dict[str, int]:
    tables: dict[str, int] = {}
    with duckdb.connect(str(target)) as con:
        con.execute("ATTACH ? AS warehouse (READ_ONLY)", [str(warehouse)])
        found = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = 'warehouse' AND schema_name IN (SELECT UNNEST(?::VARCHAR[])) "
            "ORDER BY ALL",
            [list(schemas)],
        ).fetchall()
        if not found:
            raise RuntimeError(
                f"nothing to publish: {warehouse} has no tables in schemas {list(schemas)}; "
                "materialise the marts first"
            )
        for schema in sorted({s for s, _ in found}):
            con.execute(f'CREATE SCHEMA "{schema}"')
        for schema, table in found:
            con.execute(
                f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM warehouse."{schema}"."{table}"'
            )
            rows = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
            tables[f"{schema}.{table}"] = int(rows)
        con.execute("DETACH warehouse")
    return tables


def _content_hash(snapshot: Path, tables: dict[str, int]) -> str:
    digest = hashlib.sha256()
    with duckdb.connect(str(snapshot), read_only=True) as con:
        for name in sorted(tables):
            schema, table = name.split(".", 1)
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
                [schema, table],
            ).fetchall()
            # An order-independent fingerprint of the rows: the sum of row hashes.
            fingerprint = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{schema}"."{table}" AS t'
            ).fetchall()[0]
            digest.update(repr((name, columns, fingerprint)).encode())
    return digest.hexdigest()[:16]


def _remove_stale_staging_files(published: Path) -> None:
    # A killed publish leaves its half-written staging file behind; the published file is intact.
    for stale in published.parent.glob(f".{published.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
