"""MSISDN rules of ../shared/API.md: Telkomsel prefixes only, stored and shown as E.164."""
import re

TELKOMSEL_NATIONAL = re.compile(r"^(811|812|813|821|822|823|851|852|853)\d{6,8}$")


def normalize_msisdn(raw):
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
