"""Post-race and season reports rendered from the real history: the PDF is turned into images
(pdftoppm) and text (pdftotext) and checked like a reader would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p3_reports.post_race import write_post_race
from p3_reports.race_data import ReportError, load_race
from p3_reports.season import write_season
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = [pytest.mark.slow, pytest.mark.real_data]


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (Debian package poppler-utils)")
    return path


def _pages(pdf: Path, out: Path) -> list[Path]:
    subprocess.run(
        [_poppler("pdftoppm"), "-r", "50", "-png", str(pdf), str(out / "page")],
        check=True,
        capture_output=True,
    )
    return sorted(out.glob("page-*.png"))


def _text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    done = subprocess.run(
        [_poppler("pdftotext"), "-layout", *pages, str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _assert_pages_not_blank(pdf: Path, pages: list[Path]) -> None:
    """Every page has ink beyond its footer, and words beyond "page N of M"."""
    for number, page in enumerate(pages, start=1):
        assert _ink(page) > 0.001, f"page {number} is blank"
        words = _text(pdf, number).split()
        assert len(words) > len(f"page {number} of {len(pages)}".split()), f"page {number}"


def _ink(page: Path) -> float:
    """Share of pixels that are not (near) white."""
    pixels = np.asarray(Image.open(page).convert("L"))
    return float((pixels < 235).mean())


def test_brazil_2019_renders_a_readable_pdf(
    real_snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    report = write_post_race(real_snapshot.path, "2019-20", tmp_path / "reports")
    pdf = report.files["pdf"]
    assert pdf.name == "2019-20.pdf" and pdf.read_bytes().startswith(b"%PDF")
    pages = _pages(pdf, tmp_path)
    assert len(pages) >= 3
    _assert_pages_not_blank(pdf, pages)
    text = _text(pdf)
    assert "2019 Brazilian Grand Prix" in text
    assert "Winner: Max Verstappen" in text
    assert "Laps: 71" in text
    # Lap times and pit stops exist for 2019: those sections have charts, not "no data".
    assert report.facts["laps"] == 71
    for title in ("Position lap by lap", "Lap-time distributions", "Pit stops"):
        section = next(s for s in report.sections if s.title == title)
        assert section.figure is not None and section.no_data is None
    # Gasly (Toro Rosso) finished second from sixth on the grid: the result table says so.
    assert "Pierre Gasly" in text and "Toro Rosso" in text
    html = report.files["html"].read_text()
    assert html.count("data:image/png;base64,") == 4  # no prediction for 2019: no 5th chart


def test_a_race_without_lap_times_still_renders_and_names_the_empty_sections(
    real_snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    report = write_post_race(real_snapshot.path, "1995-1", tmp_path)
    assert "Position lap by lap" in report.empty_sections
    assert "Lap-time distributions" in report.empty_sections
    assert "Pit stops" in report.empty_sections
    text = _text(report.files["pdf"])
    assert "1995 Brazilian Grand Prix" in text
    assert (
        "Sections without data: Position lap by lap, Lap-time distributions, Pit stops"
        in " ".join(text.split())
    )
    assert "No data: no lap times for this race" in " ".join(text.split())


def test_an_unknown_race_is_one_line_and_leaves_the_last_report(
    real_snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    good = write_post_race(real_snapshot.path, "2019-20", tmp_path, pdf=False).files["html"]
    before = good.read_bytes()
    with pytest.raises(ReportError, match=r"^race 2019-30 is not in the published snapshot$"):
        write_post_race(real_snapshot.path, "2019-30", tmp_path, pdf=False)
    with pytest.raises(ReportError, match="is not '<season>-<round>'"):
        load_race(real_snapshot.path, "brazil")
    assert good.read_bytes() == before


def test_the_2019_season_report_names_the_champion(
    real_snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    report = write_season(real_snapshot.path, 2019, tmp_path)
    text = " ".join(_text(report.files["pdf"]).split())
    assert "2019 season" in text and "Champion: Lewis Hamilton" in text and "Races: 21" in text
    _assert_pages_not_blank(report.files["pdf"], _pages(report.files["pdf"], tmp_path))
