"""MSISDN rules of ../shared/API.md: Telkomsel prefixes only, ASCII digits only, stored and shown as E.164."""

import re

# [0-9], not \d: Python's \d also matches Arabic-Indic, Devanagari, fullwidth… digits, which would make
# `0812١٢٣…` a second number (and user) beside `0812123…`.
TELKOMSEL_NATIONAL = re.compile(r"^(811|812|813|821|822|823|851|852|853)[0-9]{6,8}$")
INVALID_MSISDN_HINT = "Use 08…, 628… or +628… with a Telkomsel prefix, in digits 0-9."


def normalize_msisdn(raw: object) -> str | None:
    """'0812-1234-567' -> '+628121234567'; None when it is not a valid Telkomsel number."""
    if not isinstance(raw, str):
        return None
    digits = re.sub(r"[\s\-]", "", raw).removeprefix("+")
    if digits.startswith("62"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    if not TELKOMSEL_NATIONAL.match(national):
        return None
    return f"+62{national}"


def msisdn_clean(raw: object) -> str:
    """The E.164 number, or django's ValidationError (forms, createsuperuser: the operator's paths)."""
    from django.core.exceptions import ValidationError

    msisdn = normalize_msisdn(raw)
    if msisdn is None:
        raise ValidationError(f"Not a valid Telkomsel number. {INVALID_MSISDN_HINT}", code="invalid_msisdn")
    return msisdn
