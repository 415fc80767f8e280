"""Strict JSON types for every input, REST and socket alike: a number is a JSON number (not `true`, not "1"), finite,
and an integer field takes only JSON integers. The socket parsers call the predicates; the serializers use the fields.
"""

import math
from typing import Any

from rest_framework import serializers


def is_json_number(value: object) -> bool:
    """A finite JSON number: bool is an int subclass in Python and is refused here, as are strings."""
    return (type(value) is float and math.isfinite(value)) or type(value) is int


def is_json_integer(value: object) -> bool:
    return type(value) is int


def is_json_boolean(value: object) -> bool:
    return type(value) is bool


class StrictFloatField(serializers.FloatField):
    """A JSON number only: true, "1" and "NaN" are `invalid` rather than coerced."""

    def to_internal_value(self, data: Any) -> float:
        if not is_json_number(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: 5.5, 5.0, "5" and true are `invalid` rather than coerced."""

    def to_internal_value(self, data: Any) -> int:
        if not is_json_integer(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false only: 1, "true" and "yes" are `invalid` rather than coerced."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not is_json_boolean(data):
            self.fail("invalid")
        return data
