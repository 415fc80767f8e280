"""The OpenAPI schema's error responses, added to every operation centrally (no view's extend_schema lists them):
under each status an operation can answer, the error shape with that status' possible codes as an enum.

The codes come from the catalogues (nebengjek.error_catalogue): the common ones that apply to the operation, then
the view's own from its app's errors.OPERATION_ERRORS."""

from collections import defaultdict

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

from nebengjek.error_catalogue import codes_for_operation
from nebengjek.errors import ErrorCode


def error_schema(codes: list[str]) -> dict:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string", "description": "For a person; branch on `code`."},
                    "details": {
                        "type": "object",
                        "additionalProperties": {},
                        "description": "Specifics: the offending fields, limits, the current status...",
                    },
                },
            }
        },
    }


def _error_response(errors: list[ErrorCode]) -> dict:
    listed = "\n".join(f"- `{error.value}`: {error.default_message}" for error in errors)
    return {
        "description": f"An error, one of:\n{listed}",
        "content": {"application/json": {"schema": error_schema([error.value for error in errors])}},
    }


class ErrorDocumentingAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        by_status: dict[int, list[ErrorCode]] = defaultdict(list)
        for error in self._operation_error_codes():
            if error.status is not None:
                by_status[error.status].append(error)
        for status in sorted(by_status):
            responses.setdefault(str(status), _error_response(by_status[status]))
        return responses

    def _operation_error_codes(self) -> list[ErrorCode]:
        return codes_for_operation(
            view_name=type(self.view).__name__,
            method=self.method,
            authenticated=self._needs_authentication(),
            has_path_params="{" in self.path,
            is_list=self._is_list_view(),
        )

    def _needs_authentication(self) -> bool:
        if not self.view.get_authenticators():
            return False
        return not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
