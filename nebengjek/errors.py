"""The one exception type every domain raises; apps declare their codes as enums in their errors.py."""
from enum import Enum


class DomainError(Exception):
    """An expected failure with a stable machine-readable code, rendered as {"error": {...}} with `status`."""

    def __init__(self, code, message, *, status=400, details=None, headers=None):
        super().__init__(message)
        self.code = code.value if isinstance(code, Enum) else code
        self.message = message
        self.status = status
        self.details = details or {}
        self.headers = headers or {}

    def as_dict(self):
        return {"code": self.code, "message": self.message, "details": self.details}


class CommonError(str, Enum):
    INVALID_INPUT = "invalid_input"
    MALFORMED_JSON = "malformed_json"
    NOT_AUTHENTICATED = "not_authenticated"
    TOKEN_NOT_VALID = "token_not_valid"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
