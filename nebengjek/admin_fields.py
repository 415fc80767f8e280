"""Admin columns and read-only fields that write a model's numbers as nebengjek/display.py does: assign one to a
ModelAdmin or inline attribute (`estimate = money_field("estimate_amount", "estimate")`) and name it in
list_display / fields."""

from collections.abc import Callable

from django.contrib import admin

from nebengjek import display

AdminField = Callable[[object, object], str]


def money_field(field: str, description: str, *, signed: bool = False) -> AdminField:
    @admin.display(description=description, ordering=field)
    def show(model_admin, obj) -> str:
        return display.rupiah(getattr(obj, field), signed=signed)

    return show


def distance_field(field: str, description: str) -> AdminField:
    @admin.display(description=description, ordering=field)
    def show(model_admin, obj) -> str:
        return display.distance(getattr(obj, field))

    return show


def point_field(lat_field: str, lng_field: str, description: str) -> AdminField:
    @admin.display(description=description)
    def show(model_admin, obj) -> str:
        return display.point(getattr(obj, lat_field), getattr(obj, lng_field))

    return show
