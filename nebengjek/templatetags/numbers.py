"""`{{ value|thousands }}`: an integer with comma thousands separators (12,345), as static/ops/ops.js formats
numbers, whatever the active locale: the operators' pages are English."""

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)
