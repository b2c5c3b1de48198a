"""``python -m p3_live``: the ``p3 live`` commands without loading the rest of the ``p3`` CLI."""

from .cli import app

app(prog_name="p3 live")
