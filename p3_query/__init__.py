"""P3 query engine: validated query specs, a cost-based planner and execution on the published snapshot.

Importable without Dagster (it uses p3_common, pydantic, duckdb, pandas and pyarrow only).

Interface (for the cache, the CLI and the future API)::

    from p3_query import Engine, QueryResult, QuerySpec, SpecError, parse_spec, render

    spec = parse_spec('{"entity": "constructor", "ids": ["ferrari", "mclaren"], ...}')
    engine = Engine.from_settings()          # or Engine(path_to_serving_duckdb)
    result = engine.execute(spec)            # -> QueryResult (SpecError if invalid / unknown ids)
    engine.explain(spec)                     # -> Plan (plan.explain() dict, plan.explain_text())
    render(result, "csv")                    # -> bytes in json | csv | parquet | arrow | markdown

Cache contract (``p3_query.cache`` wraps the engine; the engine knows nothing of the cache):

- Key: ``p3:{build_id}:{query_hash}``. ``query_hash`` is ``QuerySpec.query_hash``: sha256 of
  the canonical JSON of the normalised spec (ids sorted, seasons expanded, defaults filled; the
  output ``format`` is left out, since a cached result is rendered in any format).
- ``lease.normalise(spec)`` returns the spec with refs resolved to integer ids ("ferrari" and 6
  become the same question), ``lease.build_id`` the build it reads and ``lease.execute(spec)`` the
  answer, all on one ``with engine.lease() as lease`` (one build, whatever is published meanwhile).
  Key on the normalised spec's ``query_hash`` to share entries across spellings; the raw
  ``spec.query_hash`` is also a valid (if less shared) key.
- The stored value is ``QueryResult.to_payload()`` (bytes); ``QueryResult.from_payload(b)``
  restores it. ``result.build_id`` and ``result.query_hash`` say which build and question it
  answers, so a cache can refuse an entry of another build.
- Execution is thread-safe; connections are read-only and reopened when the snapshot file is
  replaced (new inode), so a result always comes from exactly one build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .spec import QuerySpec, SpecError, parse_spec, validate_spec

if TYPE_CHECKING:
    from .engine import Engine, QueryResult
    from .formats import render

__all__ = [
    "Engine",
    "QueryResult",
    "QuerySpec",
    "SpecError",
    "parse_spec",
    "render",
    "validate_spec",
]


def __getattr__(name: str) -> Any:
    # The engine pulls in duckdb/pandas/pyarrow: import it only when asked for, so
    # `import p3_query.cache` or spec validation stay light.
    if name in {"Engine", "QueryResult"}:
        from . import engine

        return getattr(engine, name)
    if name == "render":
        from .formats import render

        return render
    raise AttributeError(name)
