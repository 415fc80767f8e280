from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts import services
from accounts.models import DriverProfile, OtpChallenge, SignInSession, User
from accounts.msisdn import msisdn_clean
from nebengjek.admin import ReadOnlyAdmin


class DriverProfileInline(admin.StackedInline):
    model = DriverProfile
    can_delete = False
    extra = 0
    readonly_fields = ["is_verified", "verified_at", "created_at"]


class MsisdnFormMixin:
    """The number an operator types is parsed as sign-in parses it: stored as E.164, refused when invalid."""

    cleaned_data: dict[str, Any]

    def clean_msisdn(self):
        return msisdn_clean(self.cleaned_data.get("msisdn"))


class UserAddForm(MsisdnFormMixin, AdminUserCreationForm):
    pass


class UserEditForm(MsisdnFormMixin, UserChangeForm):
    pass


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    ordering = ["-date_joined"]
    list_display = ["msisdn", "full_name", "role", "is_active", "is_staff", "date_joined"]
    list_filter = ["role", "is_active", "is_staff", "date_joined"]
    search_fields = ["msisdn", "full_name", "driver_profile__vehicle_plate", "id"]
    readonly_fields = ["id", "date_joined", "last_login", "role", "is_active"]
    inlines = [DriverProfileInline]
    fieldsets = [
        (None, {"fields": ["id", "msisdn", "full_name", "role", "password"]}),
        ("Status", {"fields": ["is_active", "is_staff", "is_superuser", "date_joined", "last_login"]}),
        ("Permissions", {"classes": ["collapse"], "fields": ["groups", "user_permissions"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["msisdn", "full_name", "password1", "password2"]})]
    actions = ["suspend_users", "reinstate_users"]

    @admin.action(description="Suspend (sign out everywhere, close sockets)")
    def suspend_users(self, request, queryset):
        for user in queryset:
            services.user_suspend(user=user)
        self.message_user(request, f"Suspended {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Reinstate suspended users")
    def reinstate_users(self, request, queryset):
        for user in queryset:
            services.user_reinstate(user=user)
        self.message_user(request, f"Reinstated {queryset.count()} user(s).", messages.SUCCESS)


@admin.register(DriverProfile)
class DriverProfileAdmin(admin.ModelAdmin):
    list_display = ["vehicle_plate", "user", "vehicle_type", "is_verified", "created_at"]
    list_filter = ["vehicle_type", "is_verified"]
    search_fields = ["vehicle_plate", "user__msisdn", "user__full_name"]
    readonly_fields = ["user", "is_verified", "verified_at", "created_at"]
    actions = ["mark_verified", "revoke_verification"]

    @admin.action(description="Mark verified")
    def mark_verified(self, request, queryset):
        for profile in queryset:
            services.driver_verify(profile=profile)
        self.message_user(request, f"Verified {queryset.count()} driver(s).", messages.SUCCESS)

    @admin.action(description="Revoke verification (takes the driver offline; no proposals)")
    def revoke_verification(self, request, queryset):
        for profile in queryset.select_related("user"):
            services.driver_unverify(profile=profile)
        self.message_user(request, f"Revoked the verification of {queryset.count()} driver(s).", messages.SUCCESS)


@admin.register(OtpChallenge)
class OtpChallengeAdmin(ReadOnlyAdmin):
    list_display = ["msisdn", "created_at", "expires_at", "wrong_attempts", "consumed_at", "superseded"]
    list_filter = ["superseded", "created_at"]
    search_fields = ["msisdn"]

    def get_fields(self, request, obj=None):
        return ["msisdn", "created_at", "expires_at", "wrong_attempts", "consumed_at", "superseded", "requested_ip"]


@admin.register(SignInSession)
class SignInSessionAdmin(ReadOnlyAdmin):
    """Sessions are written by sign-in, logout and suspension; an operator may only revoke one."""

    list_display = ["sid", "user", "created_at", "refreshed_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["=sid", "user__msisdn", "=user__id"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    fields = ["sid", "user", "created_at", "refreshed_at", "revoked_at"]
    actions = ["revoke_sessions"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("accounts.change_signinsession")

    @admin.action(description="Revoke (sign out that session, close its sockets)", permissions=["revoke"])
    def revoke_sessions(self, request, queryset):
        for session in queryset:
            services.sign_in_session_revoke(session=session)
        self.message_user(request, f"Revoked {queryset.count()} session(s).", messages.SUCCESS)
