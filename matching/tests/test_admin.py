"""Operators see requests (with their matches) and matches in the admin."""
from accounts.models import User
from matching.models import Match, RideRequest
from matching.tests.helpers import ask_for_ride, driver_online, make_passenger, received


def test_the_admin_lists_and_shows_requests_and_matches(client, client_for):
    driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request, match = RideRequest.objects.get(), Match.objects.get()

    pages = ["/admin/matching/riderequest/", f"/admin/matching/riderequest/{request.id}/change/",
             "/admin/matching/match/", f"/admin/matching/match/{match.id}/change/"]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200, 200]


def test_an_operator_cancels_a_stuck_request_through_the_service_and_the_driver_is_told(client, client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request = RideRequest.objects.get()

    response = client.post("/admin/matching/riderequest/",
                           {"action": "cancel_stuck_requests", "_selected_action": [str(request.id)]})

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "cancelled" and request.is_open is False
    assert Match.objects.get().status == "cancelled"
    assert [type for type, _ in received(driver)][-1] == "match.cancelled"


def test_request_state_cannot_be_edited_by_hand(client, client_for):
    driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request = RideRequest.objects.get()

    client.post(f"/admin/matching/riderequest/{request.id}/change/", {"status": "no_driver", "is_open": ""})

    request.refresh_from_db()
    assert request.status == "searching" and request.is_open is True
