"""HTML from the Jinja2 templates and PDF from the HTML (WeasyPrint), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


def environment() -> Environment:
    """The templates of ``p3_reports/templates``, HTML-escaped."""
    env = Environment(
        loader=PackageLoader("p3_reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters["seconds"] = lambda ms: "" if ms is None or ms != ms else f"{ms / 1000:.3f}"
    return env


def render_html(template: str, **context: Any) -> str:
    """The rendered template."""
    return environment().get_template(template).render(**context)


def html_to_pdf(html: str) -> bytes:
    """The HTML laid out as a PDF (A4; the template's print CSS)."""
    from weasyprint import HTML  # imported here: Pango loads in ~1 s and only PDFs need it

    return bytes(HTML(string=html).write_pdf())


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Write ``path`` through a temporary file and ``os.replace`` (no half-written report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(payload)
        temp = Path(f.name)
    temp.chmod(0o644)  # a report is for reading; mkstemp's 0600 would hide it from the web server
    os.replace(temp, path)
    return path
