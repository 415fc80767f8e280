"""The error catalogue's base: each app's errors.py declares its codes as an `ErrorCode` enum whose members carry
(code, HTTP status, default message); a raise names the member, e.g.
`raise RidesException(RidesError.RIDE_NOT_FOUND)` or `RidesException(RidesError.X, details={...})`.

docs/errors.md is generated from the catalogues (`manage.py errors_doc`); a test fails when it is stale.
"""

from enum import Enum
from typing import Any, Self


class ErrorCode(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member, which callers may print)
    """A catalogue entry. The member is the code string clients see (so it compares equal to "not_found"); it also
    carries `status` (the HTTP status; None for an error only the socket sends) and `default_message`."""

    status: int | None
    default_message: str

    def __new__(cls, code: str, status: int | None, default_message: str) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        member.default_message = default_message
        return member


class DomainError(Exception):
    """An expected failure with a stable machine-readable code, rendered as {"error": {...}} with the code's status.

    `message` overrides the catalogue's default only where it must carry specifics (a distance, a limit)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(code, ErrorCode):
            raise TypeError(f"{code!r} is not an error catalogue member (see nebengjek/errors.py)")
        self.error = code
        self.code = code.value
        self.message = message or code.default_message
        self.status = code.status or 400
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


def status_in_words(status: str, special: dict[str, str]) -> str:
    """How a status reads in a message: "in_progress" -> "in progress", unless `special` words it otherwise."""
    return special.get(str(status)) or str(status).replace("_", " ")


class CommonError(ErrorCode):
    """Codes any endpoint may answer (the framework's, validation, backing services)."""

    INVALID_INPUT = ("invalid_input", 400, "The input is not valid; details names each field and its problem.")
    MALFORMED_JSON = ("malformed_json", 400, "The body is not valid JSON.")
    NOT_AUTHENTICATED = ("not_authenticated", 401, "Sign in first: send your access token as Authorization: Bearer …")
    TOKEN_NOT_VALID = ("token_not_valid", 401, "The token is not valid; sign in again.")
    PERMISSION_DENIED = ("permission_denied", 403, "You may not do this.")
    NOT_FOUND = ("not_found", 404, "No such resource.")
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, "This method is not allowed here.")
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, "Send the body as application/json.")
    THROTTLED = ("throttled", 429, "Too many requests; retry after the Retry-After header's seconds.")
    SERVER_ERROR = ("server_error", 500, "Internal server error.")
    SERVICE_UNAVAILABLE = ("service_unavailable", 503, "Temporarily unavailable, retry shortly.")


class SocketError(ErrorCode):
    """Errors only the socket (/ws/) sends, in an `error` message; the socket stays open."""

    MESSAGE_TOO_LARGE = ("message_too_large", None, "The message is too large.")
    INVALID_MESSAGE = ("invalid_message", None, "A message is a JSON object with a type.")
    UNKNOWN_TYPE = ("unknown_type", None, "Unknown message type.")
    RATE_LIMITED = ("rate_limited", None, "Too many messages a second.")


# The codes every operation of the REST API may answer (the schema lists them for each operation).
COMMON_OPERATION_ERRORS = (
    CommonError.INVALID_INPUT,
    CommonError.MALFORMED_JSON,
    CommonError.THROTTLED,
    CommonError.SERVICE_UNAVAILABLE,
)
AUTHENTICATED_OPERATION_ERRORS = (CommonError.NOT_AUTHENTICATED, CommonError.TOKEN_NOT_VALID)
