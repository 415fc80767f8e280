"""Operators edit products and fare policies in the admin; a policy a request was quoted with is never changed:
the edit becomes the next version."""

import pytest

from accounts.models import User
from matching.models import RideRequest
from matching.tests.helpers import ask_for_ride, make_passenger
from products.models import FarePolicy, Product


@pytest.fixture
def operator(client, client_for):
    ask_for_ride(client_for(make_passenger()))  # the catalogue is seeded, and bike v1 quoted once
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    return client


def _policy_form(policy, **changes):
    form = {
        "product": policy.product_id,
        "base_fare": policy.base_fare,
        "per_km": policy.per_km,
        "minimum_fare": policy.minimum_fare,
        "waiting_per_minute": policy.waiting_per_minute,
        "time_multipliers": "[]",
    }
    return {**form, **changes}


def test_editing_a_policy_in_use_saves_a_new_version_and_leaves_the_quoted_one(operator, client_for):
    v1 = FarePolicy.objects.get(product__code="bike")

    response = operator.post(f"/admin/products/farepolicy/{v1.pk}/change/", _policy_form(v1, per_km=3500))

    assert response.status_code == 302
    assert list(
        FarePolicy.objects.filter(product__code="bike").order_by("version").values_list("version", "per_km")
    ) == [(1, 3000), (2, 3500)]
    assert RideRequest.objects.get().fare_policy_id == v1.pk
    RideRequest.objects.update(is_open=False)
    body = ask_for_ride(client_for(make_passenger()))
    assert body["fare_breakdown"]["policy_version"] == 2 and body["fare_estimate"]["amount"] == 3892


def test_a_policy_nobody_was_quoted_with_is_edited_in_place(operator):
    car = FarePolicy.objects.get(product__code="car")

    operator.post(f"/admin/products/farepolicy/{car.pk}/change/", _policy_form(car, base_fare=6000))

    assert list(FarePolicy.objects.filter(product__code="car").values_list("version", "base_fare")) == [(1, 6000)]


def test_a_minimum_fare_that_leaves_no_admin_fee_is_refused(operator):
    car = FarePolicy.objects.get(product__code="car")

    response = operator.post(f"/admin/products/farepolicy/{car.pk}/change/", _policy_form(car, minimum_fare=1999))

    assert response.status_code == 200 and b"Too low" in response.content
    assert FarePolicy.objects.get(pk=car.pk).minimum_fare == 15000


def test_a_malformed_time_window_is_refused(operator):
    car = FarePolicy.objects.get(product__code="car")

    response = operator.post(
        f"/admin/products/farepolicy/{car.pk}/change/",
        _policy_form(car, time_multipliers='[{"start": "25:00", "end": "7:00", "multiplier": 2}]'),
    )

    assert response.status_code == 200 and b"bad time multiplier" in response.content


def test_a_product_needs_known_vehicle_types(operator):
    response = operator.post(
        "/admin/products/product/add/",
        {"code": "truck", "name": "Truck", "vehicle_types": '["lorry"]', "sort_order": 3},
    )

    assert response.status_code == 200 and b"Unknown vehicle types" in response.content
    assert not Product.objects.filter(code="truck").exists()
