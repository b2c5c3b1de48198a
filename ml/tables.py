"""Write ML outputs to the warehouse's ``ml`` schema."""

from __future__ import annotations

import duckdb
import pandas as pd

from p3_common.transaction import registered, transaction

ML_SCHEMA = "ml"


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Replace ``ml.<table>`` with ``frame`` in one transaction; returns the row count."""
    con.execute(f'create schema if not exists "{ML_SCHEMA}"')
    with registered(con, "_ml_frame", frame), transaction(con):
        con.execute(f'create or replace table "{ML_SCHEMA}"."{table}" as select * from _ml_frame')
    return len(frame)
