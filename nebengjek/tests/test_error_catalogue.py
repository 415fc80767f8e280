"""One error catalogue (issue 21 item 3, issue 27 items 2, 4, 5): each app's errors.py enum carries code, status
and default message; docs/errors.md is generated from it; the contract's codes are all in it; the OpenAPI schema
documents every operation's error responses from it."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import get_resolver

from nebengjek.error_catalogue import ERRORS_DOC, catalogue, errors_doc, operation_errors
from nebengjek.errors import CommonError, DomainError
from rides.errors import RidesError, RidesException


def _contract_path() -> Path:
    """../shared/API.md beside the repository; from a git worktree, beside its main checkout."""
    base = Path(settings.BASE_DIR)
    candidates = [base.parent / "shared" / "API.md"]
    git = base / ".git"
    if git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        main_git = Path(git.read_text().split("gitdir:", 1)[1].strip()).parents[1]
        candidates.append(main_git.parent.parent / "shared" / "API.md")
    return next((path for path in candidates if path.exists()), candidates[0])


API_MD = _contract_path()


# --- the catalogue -----------------------------------------------------------------------------------------


def test_a_raise_names_the_code_and_gets_its_status_and_default_message():
    error = RidesException(RidesError.RIDE_NOT_FOUND)

    assert (error.code, error.status, error.message) == ("ride_not_found", 404, "No such ride.")
    assert error.as_dict() == {"code": "ride_not_found", "message": "No such ride.", "details": {}}


def test_a_message_override_keeps_the_catalogues_status():
    error = DomainError(CommonError.SERVICE_UNAVAILABLE, "Sign-in is briefly unavailable, try again.")

    assert (error.status, error.message) == (503, "Sign-in is briefly unavailable, try again.")


def test_a_raise_with_a_bare_string_code_is_refused():
    with pytest.raises(TypeError):
        DomainError("made_up_code", "A code that is in no catalogue.")


def test_every_code_is_declared_once_across_the_catalogues():
    codes = [entry.error.value for entry in catalogue()]

    assert len(codes) == len(set(codes)), sorted(code for code in set(codes) if codes.count(code) > 1)
    assert all(re.fullmatch(r"[a-z][a-z_]*", code) for code in codes)


def test_the_merged_duplicates_are_gone_one_code_per_meaning():
    codes = {entry.error.value for entry in catalogue()}

    assert "invalid_coordinates" not in codes  # a latitude out of range is invalid_input naming the field
    assert "ride_not_found" in codes  # a ride you cannot see, everywhere (the receipt said not_found)


def test_every_client_facing_code_has_a_status_and_a_message():
    for entry in catalogue():
        assert entry.error.default_message.endswith((".", "…")), entry
        assert entry.error.status is None or 400 <= entry.error.status <= 599, entry


# --- docs/errors.md ----------------------------------------------------------------------------------------


def test_docs_errors_md_is_the_generated_table_of_the_catalogues():
    assert ERRORS_DOC.read_text() == errors_doc(), "docs/errors.md is stale: run `python manage.py errors_doc`"


def test_docs_errors_md_lists_every_code_with_its_status_and_app():
    text = ERRORS_DOC.read_text()

    assert (
        "| `active_request_exists` | 409 | You already have an open ride request or a ride in progress. | "
        "matching |" in text
    )
    assert "| `unknown_type` | socket |" in text
    for entry in catalogue():
        assert f"| `{entry.error.value}` |" in text


def test_the_errors_doc_command_check_fails_when_the_file_is_stale(tmp_path, monkeypatch):
    stale = tmp_path / "errors.md"
    stale.write_text("# Error codes\n")
    monkeypatch.setattr("nebengjek.management.commands.errors_doc.ERRORS_DOC", stale)

    with pytest.raises(CommandError, match="stale"):
        call_command("errors_doc", "--check")
    call_command("errors_doc")
    call_command("errors_doc", "--check")
    assert stale.read_text() == errors_doc()


# --- the contract (../shared/API.md) -------------------------------------------------------------------------


def _codes_in_the_contract(text: str) -> set[str]:
    """A code in API.md is written after its status (`409 active_request_exists`) or listed alone in parentheses
    (`(`invalid_otp`, `otp_expired`, `otp_locked`)`, `(`invalid_msisdn` otherwise)`)."""
    after_status = set(re.findall(r"\b[45]\d\d `?([a-z]+(?:_[a-z]+)+)`?", text))
    listed = set()
    for group in re.findall(r"\(((?:`[a-z_]+`(?:, )?)+)(?: otherwise)?\)", text):
        listed.update(re.findall(r"`([a-z_]+)`", group))
    return after_status | listed


@pytest.mark.skipif(not API_MD.exists(), reason="../shared/API.md (the client contract) is not beside the repository")
def test_every_code_the_contract_names_is_in_the_catalogue():
    named = _codes_in_the_contract(API_MD.read_text())
    known = {entry.error.value for entry in catalogue()}

    assert {"invalid_msisdn", "otp_locked", "active_request_exists", "match_not_pending"} <= named  # the reader works
    assert named - known == set()


# --- the OpenAPI schema --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def _codes(operation, status):
    response = operation["responses"][str(status)]
    return response["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]["enum"]


def test_every_operation_documents_its_error_responses_in_the_error_shape(schema):
    for name, operation in _operations(schema):
        errors = {status: response for status, response in operation["responses"].items() if status >= "400"}
        assert "400" in errors and "429" in errors and "503" in errors, name
        for status, response in errors.items():
            body = response["content"]["application/json"]["schema"]
            assert body["required"] == ["error"], (name, status)
            error = body["properties"]["error"]
            assert error["required"] == ["code", "message", "details"], (name, status)
            assert error["properties"]["code"]["enum"], (name, status)


def test_each_documented_code_sits_under_its_catalogue_status(schema):
    status_of = {entry.error.value: entry.error.status for entry in catalogue()}

    for name, operation in _operations(schema):
        for status in operation["responses"]:
            if status >= "400":
                assert {status_of[code] for code in _codes(operation, status)} == {int(status)}, (name, status)


def test_a_ride_request_documents_active_request_exists_under_409(schema):
    operation = schema["paths"]["/api/v1/rides/requests"]["post"]

    assert set(_codes(operation, 409)) == {"active_request_exists", "insufficient_balance"}
    assert {"invalid_input", "malformed_json", "outside_service_area", "trip_too_long"} <= set(_codes(operation, 400))
    assert set(_codes(operation, 401)) == {"not_authenticated", "token_not_valid"}


def test_a_ride_start_documents_its_conflicts_and_the_ride_not_found(schema):
    operation = schema["paths"]["/api/v1/rides/{ride_id}/start"]["post"]

    assert set(_codes(operation, 409)) == {"invalid_ride_state", "driver_position_unknown", "too_far_from_passenger"}
    assert "ride_not_found" in _codes(operation, 404) and _codes(operation, 403) == ["not_the_driver"]


def test_sign_in_documents_its_codes_and_no_401(schema):
    operation = schema["paths"]["/api/v1/auth/otp/request"]["post"]

    assert set(_codes(operation, 429)) == {"throttled", "otp_rate_limited"}
    assert "invalid_msisdn" in _codes(operation, 400)
    assert "401" not in operation["responses"]


def test_the_operation_errors_name_views_that_exist():
    views = set()
    stack = list(get_resolver().url_patterns)
    while stack:
        pattern = stack.pop()
        stack.extend(getattr(pattern, "url_patterns", []))
        view_class = getattr(getattr(pattern, "callback", None), "view_class", None)
        if view_class is not None:
            views.add(view_class.__name__)

    assert set(operation_errors()) - views == set()


# --- found while documenting: DRF's own validation codes leaked as error codes -----------------------------------


def test_a_null_character_in_a_string_field_is_invalid_input_not_a_drf_code(api_client):
    response = api_client.post("/api/v1/auth/token/refresh", {"refresh": "a\u0000b"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "refresh" in response.json()["error"]["details"]
