"""The cache key schema: ``p3:{build_id}:{query_hash}`` entries and the ``p3:current`` pointer."""

from __future__ import annotations

import re

DEFAULT_PREFIX = "p3"
# Build ids are content hashes and query hashes are spec hashes; neither may contain the separator.
_PART = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def check_part(value: str, what: str) -> str:
    """Return ``value`` if it can be one segment of a key, else raise ValueError naming it."""
    if not _PART.match(value):
        raise ValueError(f"{what} {value!r} is not a key segment (letters, digits, '_.-', 1-128)")
    return value


# Second segments the backends use for their own bookkeeping keys; no build may be called so.
RESERVED = frozenset({"current", "meta", "stats", "log", "specs", "doc"})


def check_build(build_id: str) -> str:
    """Return ``build_id`` if it is a valid, non-reserved build id."""
    if build_id in RESERVED:
        raise ValueError(f"build_id {build_id!r} is reserved ({', '.join(sorted(RESERVED))})")
    return check_part(build_id, "build_id")


def entry_key(build_id: str, query_hash: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The key of one cached answer: ``p3:{build_id}:{query_hash}``."""
    return f"{prefix}:{check_build(build_id)}:{check_part(query_hash, 'query_hash')}"


def current_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The key naming the build readers are served from: ``p3:current``."""
    return f"{prefix}:current"


def flips_channel(prefix: str = DEFAULT_PREFIX) -> str:
    """The pub/sub channel each flip of ``p3:current`` is announced on (message: the new build)."""
    return f"{prefix}:flips"
