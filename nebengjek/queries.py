"""Small query helpers shared by the apps."""

from typing import Any, TypeVar

from django.db.models import QuerySet

Row = TypeVar("Row")


def one_or_none(queryset: QuerySet[Any, Row]) -> Row | None:
    """The row a unique filter (a primary key) names, or None: `LIMIT 1` without the `ORDER BY` that `.first()`
    adds to an unordered queryset (its compilation is a measurable share of a hot path's CPU)."""
    return next(iter(queryset[:1]), None)
