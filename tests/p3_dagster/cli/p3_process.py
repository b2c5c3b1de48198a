"""A real ``p3`` subprocess in its own process group, its output read line by line as it comes."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from p3_common.settings import REPO_ROOT

P3 = str(Path(sys.executable).parent / "p3")
# One small unpartitioned raw table: its step holds the `duckdb_write` slot for a few seconds
# (the demo championship is generated inside it), long enough to interrupt it mid-step.
ONE_TABLE = "key:raw/ergast__circuits"


class P3Process:
    """A ``p3`` subprocess in its own process group, with its output lines collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [P3, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> str:
        """Block until a line containing ``text`` is printed; fail with the output so far if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                break
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout}s; output:\n{self.output}")

    def signal_group(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"p3 still running after {timeout}s; output:\n{self.output}"
            ) from None
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
