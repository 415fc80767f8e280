"""One read-only admin base: every model admin that lets operators add, change and delete nothing is a ReadOnlyAdmin."""

from django.contrib import admin
from django.test import RequestFactory

from accounts.tests.factories import UserFactory
from nebengjek.admin import ReadOnlyAdmin, ReadOnlyInline


def _superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    return request


def _forbids_all_writes(model_admin, request) -> bool:
    return not (
        model_admin.has_add_permission(request)
        or model_admin.has_change_permission(request)
        or model_admin.has_delete_permission(request)
    )


def test_every_admin_that_writes_nothing_is_a_read_only_admin():
    request = _superuser_request()
    read_only = [
        model_admin for model_admin in admin.site._registry.values() if _forbids_all_writes(model_admin, request)
    ]
    assert read_only  # the ledger, the events, the sign-in sessions, the OTP challenges, the track points
    assert [type(a).__name__ for a in read_only if not isinstance(a, ReadOnlyAdmin)] == []


def test_read_only_admins_and_inlines_take_their_permissions_from_the_one_base():
    request = _superuser_request()
    for model_admin in admin.site._registry.values():
        if isinstance(model_admin, ReadOnlyAdmin):
            for name in ("has_add_permission", "has_change_permission", "has_delete_permission"):
                assert name not in vars(type(model_admin)), f"{type(model_admin).__name__}.{name}"
        for inline in model_admin.get_inline_instances(request):
            read_only = not (inline.has_add_permission(request, None) or inline.has_change_permission(request, None))
            assert read_only == isinstance(inline, ReadOnlyInline), type(inline).__name__
