"""Operators' view of what was pushed to each user (support: "the app never showed my driver"). Read-only."""

from django.contrib import admin

from nebengjek.models import Event, EventCursor


class ReadOnlyAdmin(admin.ModelAdmin):
    """The one base of every admin whose rows operators may read but not add, change or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """The one base of inlines that only show a parent's rows (ledger entries, track points)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "seq", "type"]
    list_filter = ["type", "created_at"]
    search_fields = ["user__msisdn", "=user__id", "type"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-seq"]
    fields = ["user", "seq", "type", "created_at", "payload"]


@admin.register(EventCursor)
class EventCursorAdmin(ReadOnlyAdmin):
    list_display = ["user", "last_seq"]
    search_fields = ["user__msisdn", "=user__id"]
    list_select_related = ["user"]
