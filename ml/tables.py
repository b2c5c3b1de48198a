"""Write ML outputs to the warehouse's ``ml`` schema."""

from __future__ import annotations

import duckdb
import pandas as pd

ML_SCHEMA = "ml"


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Replace ``ml.<table>`` with ``frame`` in one transaction; returns the row count."""
    con.execute(f'create schema if not exists "{ML_SCHEMA}"')
    con.register("_ml_frame", frame)
    try:
        con.execute("begin transaction")
        con.execute(f'create or replace table "{ML_SCHEMA}"."{table}" as select * from _ml_frame')
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_ml_frame")
    return len(frame)
