"""The Ergast-compatible read API under ``/ergast/f1/``: grammar, tables, index, shapes, router."""

from .router import router

__all__ = ["router"]
