"""The ``jolpica`` source: Ergast tables from the Jolpica-F1 API (Ergast-compatible HTTP JSON).

Modules by job, each importing only the ones listed before it:

- ``resources``: the API's lists, stated once (``RESOURCES``), and the URL path of one round;
- ``rate_limit``: the client-side rate limiter (burst, hourly budget, adaptive pace);
- ``paging``: one ``MRData`` page decoded and checked, pages merged, rows counted;
- ``client``: the HTTP client (requests, retries, backoff, deadlines, paging through a list);
- ``mapping``: Ergast JSON objects into rows of the contract tables;
- ``ids``: warehouse ids for API refs and rounds, new ids above the warehouse maximum;
- ``planning``: the season's schedule, which rounds a table load fetches, one round's payload;
- ``source``: ``JolpicaSource``, the ``ErgastSource`` tying them together.
"""

from .client import JolpicaClient, parse_retry_after
from .paging import MAX_PAGE_SIZE, count_rows, merge_page
from .rate_limit import RateBudgetExhaustedError, RateLimiter
from .resources import RESOURCES, Resource
from .source import JolpicaSource

__all__ = [
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "JolpicaClient",
    "JolpicaSource",
    "RateBudgetExhaustedError",
    "RateLimiter",
    "Resource",
    "count_rows",
    "merge_page",
    "parse_retry_after",
]
