"""Which ``p3`` processes are alive on this machine (Linux ``/proc``): to tell a dead run from a
live one, and to stop the processes a run started (dbt)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def other_p3_running() -> bool:
    """Whether another ``p3 materialize`` process runs on this machine (Linux /proc; else True)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for cmdline in proc.glob("[0-9]*/cmdline"):
        if cmdline.parent.name == str(os.getpid()):
            continue
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if any(a.endswith(b"p3") for a in args) and b"materialize" in args:
                return True
    return False


def alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = process_start(pid)
    # A zombie (killed, not yet reaped) is dead; a different start time means the pid was reused.
    return now is not None and now != "zombie" and (not start or now == start)


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), "zombie", or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return "zombie" if fields[0] in {"Z", "X"} else fields[19]


def terminate_children() -> None:
    """SIGTERM the processes this one started (dbt), found through /proc (Linux)."""
    me = str(os.getpid())
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = entry.read_text()
            if stat[stat.rindex(")") + 2 :].split()[1] == me:
                os.kill(int(entry.parent.name), signal.SIGTERM)
