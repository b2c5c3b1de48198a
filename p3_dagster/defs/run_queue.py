"""Run-queue tags: which runs leave the QueuedRunCoordinator's queue first, and which never overlap.

deploy/dagster.yaml's ``tag_concurrency_limits`` and these numbers are one policy: the daemon
dequeues higher ``dagster/priority`` first (default 0; FIFO among equals) and never runs more
``p3/workload: training`` runs at once than the limit there (1).
"""

from __future__ import annotations

PRIORITY_TAG = "dagster/priority"  # read by Dagster's queue daemon
WORKLOAD_TAG = "p3/workload"  # deploy/dagster.yaml limits its "training" value to one run

# A live processor saw the chequered flag: the freshest signal, first out of the queue.
RACE_FINISHED_PRIORITY = 20
# The weekly/periodic check found a completed race the warehouse does not have yet.
NEW_RACE_PRIORITY = 10
# Reloading a range of seasons; waits behind everything else (and takes one slot at most:
# the `dagster/backfill` limit in deploy/dagster.yaml).
BACKFILL_PRIORITY = -10

TRAINING_WORKLOAD = "training"


def priority_tags(priority: int) -> dict[str, str]:
    """The run tags that put a run at ``priority`` in the queue."""
    return {PRIORITY_TAG: str(priority)}


RACE_FINISHED_TAGS = priority_tags(RACE_FINISHED_PRIORITY)
NEW_RACE_TAGS = priority_tags(NEW_RACE_PRIORITY)
# What a backfill is launched with (UI: "Add tags" in the backfill dialog; GraphQL:
# launchPartitionBackfill's backfillParams.tags) so its runs queue behind new-race runs.
BACKFILL_TAGS = priority_tags(BACKFILL_PRIORITY)
TRAINING_TAGS = {WORKLOAD_TAG: TRAINING_WORKLOAD}
