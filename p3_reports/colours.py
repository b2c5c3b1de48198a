"""Team colours for charts: recognisable liveries for well-known constructors, a fixed palette
for everyone else (so a team keeps its colour across charts of one report)."""

from __future__ import annotations

import hashlib

# Constructor refs (Ergast) to a representative livery colour; chosen to stay distinct in print.
TEAM_COLOURS: dict[str, str] = {
    "ferrari": "#DC0000",
    "mercedes": "#00A19C",
    "red_bull": "#1E41FF",
    "mclaren": "#FF8700",
    "williams": "#005AFF",
    "alpine": "#FF87BC",
    "renault": "#FFD800",
    "aston_martin": "#006F62",
    "racing_point": "#F596C8",
    "force_india": "#FF80C7",
    "alphatauri": "#2B4562",
    "rb": "#6692FF",
    "toro_rosso": "#469BFF",
    "sauber": "#52E252",
    "alfa": "#900000",
    "haas": "#787878",
    "lotus_f1": "#B8860B",
    "team_lotus": "#2E6B30",
    "lotus": "#2E6B30",
    "brabham": "#3C5A99",
    "tyrrell": "#1F3B73",
    "benetton": "#5EB342",
    "jordan": "#E5C31F",
    "bar": "#A0A0A0",
    "honda": "#CCCCCC",
    "toyota": "#B00000",
    "jaguar": "#0B5A2A",
    "ligier": "#0050A0",
    "maserati": "#8B0000",
    "alfa_romeo": "#900000",
    "cooper": "#004225",
    "brm": "#3F4F3F",
    "vanwall": "#0E5E3A",
}
PALETTE = (
    "#1F77B4",
    "#D62728",
    "#2CA02C",
    "#FF7F0E",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
)


def team_colour(ref: str | None) -> str:
    """The livery colour of constructor ``ref``, else a stable palette colour for the name."""
    if ref and ref in TEAM_COLOURS:
        return TEAM_COLOURS[ref]
    digest = hashlib.sha256((ref or "").encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def colours_for(refs: list[str], teams: dict[str, str] | None = None) -> dict[str, str]:
    """A colour per ref: the team's livery (``teams`` maps a driver ref to his constructor ref),
    palette colours for the rest without repeating one within the chart while any are left."""
    teams = teams or {}
    out: dict[str, str] = {}
    used: set[str] = set()
    for ref in refs:
        team = teams.get(ref, ref)
        if team in TEAM_COLOURS and TEAM_COLOURS[team] not in used:
            out[ref] = TEAM_COLOURS[team]
            used.add(out[ref])
    free = [c for c in PALETTE if c not in used]
    for ref in refs:
        if ref not in out:
            team = teams.get(ref, ref)
            out[ref] = free.pop(0) if free else team_colour(team)
    return out
