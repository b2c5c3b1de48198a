"""``python -m p3_api`` (what ``make api`` runs): uvicorn with the ``P3_API_*`` host, port and workers."""

from __future__ import annotations

import os
import shutil
import sys

import uvicorn
from pydantic import ValidationError

from p3_common.settings import SettingsError, load_settings

from .config import ApiSettings

# Set before prometheus_client is first imported (here, or in a worker), hence not imported from
# .metrics, which imports it.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def main() -> int:
    try:
        settings = load_settings()  # fail here, in one line, rather than in every worker
        api = ApiSettings()
    except (SettingsError, ValidationError) as exc:
        print(f"p3 api: {exc}", file=sys.stderr)
        return 2
    # Every worker writes its metrics here; /metrics (any worker) sums them. Fresh per start.
    metrics_dir = settings.home / "api" / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    uvicorn.run(
        "p3_api.main:app",
        host=api.host,
        port=api.port,
        workers=api.workers,
        # Only a trusted proxy may name the client (X-Forwarded-For): the anonymous limit is per IP.
        proxy_headers=bool(api.forwarded_allow_ips),
        forwarded_allow_ips=api.forwarded_allow_ips or None,
        server_header=False,
        log_level="info",
        # One log line per request would cost more than answering a cached one; /metrics counts
        # every request by route and status instead.
        access_log=api.access_log,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
