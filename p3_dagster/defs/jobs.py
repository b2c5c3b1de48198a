"""Cross-domain jobs: the job ``p3 materialize`` (and ``make run``) launches."""

from __future__ import annotations

import dagster as dg

from .reports.assets import POST_RACE_KEY

MATERIALIZE_EVERYTHING_JOB = "materialize_everything_job"

# Assets partitioned by race are rendered a race at a time by their own job (a job has one
# partitioning; this one runs over the season range). The newest race's report is in here.
EVERYTHING = dg.AssetSelection.all() - dg.AssetSelection.assets(POST_RACE_KEY)

materialize_everything_job = dg.define_asset_job(
    MATERIALIZE_EVERYTHING_JOB,
    selection=EVERYTHING,
    description=(
        "Every asset of the code location, from the raw Ergast tables to the published snapshot "
        "and the models. `p3 materialize --select ...` (what `make run` calls) runs this job, or "
        "a subset of its assets, over every configured season in one run; its runs carry the "
        "`p3/source` and `p3/seasons` tags."
    ),
)
