"""Cross-domain jobs: the job ``p3 materialize`` (and ``make run``) launches."""

from __future__ import annotations

import dagster as dg

MATERIALIZE_EVERYTHING_JOB = "materialize_everything_job"

materialize_everything_job = dg.define_asset_job(
    MATERIALIZE_EVERYTHING_JOB,
    selection=dg.AssetSelection.all(),
    description=(
        "Every asset of the code location, from the raw Ergast tables to the published snapshot "
        "and the models. `p3 materialize --select ...` (what `make run` calls) runs this job, or "
        "a subset of its assets, over every configured season in one run; its runs carry the "
        "`p3/source` and `p3/seasons` tags."
    ),
)
