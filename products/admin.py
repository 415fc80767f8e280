from typing import Any

from django import forms
from django.contrib import admin

from products.models import FarePolicy, Product
from products.selectors import fare_policy_in_use
from products.services import (
    fare_policy_save,
    fare_policy_validate,
    product_save,
    product_validate,
)


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        product_validate(vehicle_types=data.get("vehicle_types"))
        return data


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ["code", "name", "vehicle_types", "is_active", "sort_order"]

    def save_model(self, request, obj, form, change):
        product_save(product=obj)


class FarePolicyAdminForm(forms.ModelForm):
    class Meta:
        model = FarePolicy
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("minimum_fare") is not None:
            fare_policy_validate(minimum_fare=data["minimum_fare"], time_multipliers=data.get("time_multipliers"))
        return data


@admin.register(FarePolicy)
class FarePolicyAdmin(admin.ModelAdmin):
    form = FarePolicyAdminForm
    list_display = [
        "product",
        "version",
        "base_fare",
        "per_km",
        "minimum_fare",
        "waiting_per_minute",
        "in_use",
        "created_at",
    ]
    list_filter = ["product"]
    readonly_fields = ["version", "created_at"]
    fields = [
        "product",
        "version",
        "base_fare",
        "per_km",
        "minimum_fare",
        "waiting_per_minute",
        "time_multipliers",
        "created_at",
    ]

    @admin.display(boolean=True, description="quoted with")
    def in_use(self, policy):
        return fare_policy_in_use(policy_id=policy.pk)

    def save_model(self, request, obj, form, change):
        was = obj.pk
        fare_policy_save(policy=obj)
        if change and obj.pk != was:
            self.message_user(request, f"That version was in use: saved as {obj} instead.")

    def has_delete_permission(self, request, obj=None):
        return False
