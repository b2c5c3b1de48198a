"""Schedules that keep the current season fresh."""

# No `from __future__ import annotations`: Dagster inspects the schedule function's context hint.

import dagster as dg

from .jobs import ingest_ergast_job


def _current_season_request(
    context: dg.ScheduleEvaluationContext, seasons: set[int]
) -> dg.RunRequest | dg.SkipReason:
    season = context.scheduled_execution_time.year
    if season not in seasons:
        return dg.SkipReason(f"season {season} is not a configured partition (P3_SEASONS)")
    return dg.RunRequest(
        partition_key=str(season), tags={"p3/trigger": "schedule", "p3/season": str(season)}
    )


def build_schedules(seasons: list[int]) -> list[dg.ScheduleDefinition]:
    """A weekly refresh (Monday 06:00 UTC, after race weekends) and a daily one March to December."""
    known = set(seasons)

    @dg.schedule(
        name="ingest_current_season_weekly_schedule",
        job=ingest_ergast_job,
        cron_schedule="0 6 * * 1",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Reload the current season's partition every Monday at 06:00 UTC, the morning after "
            "a race weekend; skips seasons outside P3_SEASONS."
        ),
    )
    def weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        """Reload the current season every Monday at 06:00 UTC, the morning after a race weekend."""
        return _current_season_request(context, known)

    @dg.schedule(
        name="ingest_current_season_daily_schedule",
        job=ingest_ergast_job,
        cron_schedule="0 7 * 3-12 *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Reload the current season's partition daily at 07:00 UTC from March to December, "
            "catching late classification changes (penalties, disqualifications)."
        ),
    )
    def daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        """Reload the current season daily at 07:00 UTC during the racing months (March-December),
        catching late classification changes (penalties, disqualifications)."""
        return _current_season_request(context, known)

    return [weekly, daily]
