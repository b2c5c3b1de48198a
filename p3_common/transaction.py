"""One way to replace data in DuckDB atomically: a registered frame and a transaction around it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data: Any) -> Iterator[None]:
    """``data`` (an Arrow table or pandas frame) readable as view ``name`` for the block.

    Enter it outside ``transaction``: after a failed statement DuckDB refuses everything but
    ROLLBACK, and an unregister inside the transaction would replace the real error with that
    refusal.
    """
    con.register(name, data)
    try:
        yield
    finally:
        con.unregister(name)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: committed when it ends, rolled back if anything escapes
    it (interrupts included), so readers see all of the change or none of it."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
