"""What ``p3 materialize`` shows on the terminal, and where library output goes instead (the run log)."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings

from rich.console import Console

# soft_wrap: a progress or error line stays one line whatever the terminal width.
console = Console(soft_wrap=True)


def say(message: str) -> None:
    """One progress line on the terminal (kept even while stdout goes to the run log)."""
    console.print(f"[dim]…[/dim] {message}")


@contextlib.contextmanager
def library_output_to(log):
    """Send library logging (MLflow, alembic, ...) and warnings to the run log, not the terminal."""
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    console.file = sys.stdout
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        root.handlers, _ = saved
        root.setLevel(saved[1])
