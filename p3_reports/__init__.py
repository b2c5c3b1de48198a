"""P3 reports: declarative analyses and post-race / season reports rendered from the published
snapshot (matplotlib charts, Jinja2 HTML, WeasyPrint PDF). No Dagster."""
