"""``exact_sum``: a sum of DOUBLE points that does not depend on the order rows are added in (the
real history's build id changed from one build to the next without it)."""

from __future__ import annotations

import duckdb
import jinja2

from p3_dagster.lib.dbt import DBT_PROJECT_DIR

# Order matters for a float sum: (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3).
ORDERS = ([0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def exact_sum(expression: str, over: str | None = None) -> str:
    """The macro as dbt renders it (plain Jinja: no dbt context needed)."""
    source = (DBT_PROJECT_DIR / "macros" / "exact_sum.sql").read_text()
    module = jinja2.Environment().from_string(source).module
    return str(module.exact_sum(expression, over=over)).strip()  # type: ignore[attr-defined]


def sums(select: str) -> set[float]:
    """``select`` over the same rows inserted in each order, one thread (rows in insert order)."""
    results = set()
    with duckdb.connect() as con:
        con.execute("set threads = 1")
        for values in ORDERS:
            con.execute("create or replace table t (season int, points double)")
            con.executemany("insert into t values (1, ?)", [[v] for v in values])
            results.add(con.execute(select).fetchone()[0])
    return results


def test_a_plain_float_sum_depends_on_the_order_of_the_rows() -> None:
    assert len(sums("select sum(points) from t")) == 2


def test_exact_sum_gives_one_result_whatever_the_order() -> None:
    assert sums(f"select {exact_sum('points')} from t") == {0.6}


def test_exact_sum_as_a_window_gives_one_result_whatever_the_order() -> None:
    window = exact_sum("points", over="partition by season")
    assert sums(f"select max(total) from (select {window} as total from t)") == {0.6}
