"""Only active, verified drivers receive a proposal: the dispatch's claim of driver rows refuses the others in the
same query, whatever the live index still says; suspension and an operator's un-verify also take the driver out
of the index at once."""

import pytest
from django.test import Client

from accounts.models import DriverProfile, User
from accounts.services import user_suspend
from locations.selectors import drivers_available_near
from matching.models import Match
from matching.tests.helpers import (
    PICKUP,
    ask_for_ride,
    driver_online,
    make_passenger,
    proposals_of,
)


def offered_to(request_id):
    return set(Match.objects.filter(request_id=request_id).values_list("driver_id", flat=True))


def indexed(driver):
    return str(driver.pk) in {d.id for d in drivers_available_near(lat=PICKUP[0], lng=PICKUP[1], radius_m=3000)}


def admin_action(path, action, ids):
    client = Client()
    client.force_login(make_passenger(msisdn="+628110000029", is_staff=True, is_superuser=True))
    response = client.post(path, {"action": action, "_selected_action": [str(pk) for pk in ids]})
    assert response.status_code == 302, response.content


def test_a_driver_suspended_in_the_admin_a_moment_ago_gets_no_proposal(client_for):
    suspended, other = driver_online(100), driver_online(500)
    assert indexed(suspended)

    admin_action("/admin/accounts/user/", "suspend_users", [suspended.pk])
    request = ask_for_ride(client_for(make_passenger()))

    assert offered_to(request["id"]) == {other.pk}
    assert proposals_of(suspended) == []


def test_suspension_takes_the_driver_out_of_the_live_index_at_once():
    driver = driver_online(100)

    user_suspend(user=driver)

    assert not indexed(driver)


@pytest.mark.parametrize(
    "withdraw",
    [
        pytest.param(lambda driver: User.objects.filter(pk=driver.pk).update(is_active=False), id="suspended"),
        pytest.param(
            lambda driver: DriverProfile.objects.filter(pk=driver.pk).update(is_verified=False), id="unverified"
        ),
    ],
)
def test_a_driver_the_live_index_still_lists_but_the_database_refuses_is_never_proposed(client_for, withdraw):
    refused, other = driver_online(100), driver_online(500)
    withdraw(refused)  # straight in the database: the index has not heard of it
    assert indexed(refused)

    request = ask_for_ride(client_for(make_passenger()))

    assert offered_to(request["id"]) == {other.pk}
    assert proposals_of(refused) == []


def test_a_driver_unverified_by_an_operator_gets_no_proposal_and_leaves_the_index(client_for):
    unverified, other = driver_online(100), driver_online(500)

    admin_action("/admin/accounts/driverprofile/", "revoke_verification", [unverified.pk])
    request = ask_for_ride(client_for(make_passenger()))

    assert not DriverProfile.objects.get(pk=unverified.pk).is_verified
    assert not indexed(unverified)
    assert offered_to(request["id"]) == {other.pk}


async def test_an_online_drivers_sockets_close_with_4401_when_suspended_and_the_driver_is_offline(ws):
    from channels.db import database_sync_to_async as db

    from locations.selectors import driver_beacon_on

    driver = await db(driver_online)(100)
    socket = await ws(driver)

    await db(user_suspend)(user=driver)

    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close" and output["code"] == 4401
    assert not await db(driver_beacon_on)(driver_id=driver.pk)
    assert not await db(indexed)(driver)
