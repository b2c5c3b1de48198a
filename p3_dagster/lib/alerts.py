"""Run-failure alerts: a structured payload, always logged, and POSTed to a webhook when configured."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import httpx

logger = logging.getLogger("p3.alerts")


@dataclass(frozen=True)
class RunFailureAlert:
    """What an on-call engineer needs first: which run, which job, which steps, why, where to look."""

    run_id: str
    job_name: str
    failed_steps: list[str]
    error: str
    partition: str | None
    run_url: str | None

    def as_dict(self) -> dict[str, object]:
        return {"event": "p3.run_failed", **asdict(self)}

    def summary(self) -> str:
        steps = ", ".join(self.failed_steps) or "the run"
        where = f" [{self.partition}]" if self.partition else ""
        return f"P3 run {self.run_id[:8]} of {self.job_name}{where} failed in {steps}: {self.error}"


def send_alert(alert: RunFailureAlert, webhook_url: str | None, *, timeout: float = 10.0) -> bool:
    """Log the alert as one JSON line; POST it to ``webhook_url`` if set. True when the POST succeeded.

    A failing webhook raises ``httpx.HTTPError`` so the sensor tick shows the delivery failure.
    """
    logger.error(json.dumps(alert.as_dict(), sort_keys=True))
    if not webhook_url:
        return False
    payload = alert.as_dict() | {"text": alert.summary()}  # "text" renders in Slack/Teams hooks
    response = httpx.post(webhook_url, json=payload, timeout=timeout)
    response.raise_for_status()
    return True
