"""Operators see requests (with their matches) and matches in the admin."""

from accounts.models import User
from matching.models import Match, RideRequest
from matching.tests.helpers import ask_for_ride, driver_online, make_passenger, received


def test_the_admin_lists_and_shows_requests_and_matches(client, client_for):
    driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request, match = RideRequest.objects.get(), Match.objects.get()

    pages = [
        "/admin/matching/riderequest/",
        f"/admin/matching/riderequest/{request.id}/change/",
        "/admin/matching/match/",
        f"/admin/matching/match/{match.id}/change/",
    ]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200, 200]


def test_an_operator_cancels_a_stuck_request_through_the_service_and_the_driver_is_told(client, client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request = RideRequest.objects.get()

    response = client.post(
        "/admin/matching/riderequest/", {"action": "cancel_stuck_requests", "_selected_action": [str(request.id)]}
    )

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


def test_a_request_page_is_read_only_with_no_delete_and_no_add_another_match(client, client_for):
    driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request = RideRequest.objects.get()

    response = client.get(f"/admin/matching/riderequest/{request.id}/change/")

    html = response.content.decode()
    assert '<input type="submit"' not in html and "deletelink" not in html  # Save, Save and continue, Delete
    assert [inline.has_add_permission for inline in response.context["inline_admin_formsets"]] == [False]
    assert client.get(f"/admin/matching/riderequest/{request.id}/delete/").status_code == 403
    assert "delete_selected" not in client.get("/admin/matching/riderequest/").content.decode()


def test_a_match_page_is_read_only(client, client_for):
    driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))

    html = client.get(f"/admin/matching/match/{Match.objects.get().id}/change/").content.decode()

    assert '<input type="submit"' not in html and "deletelink" not in html


def test_a_request_page_writes_coordinates_at_5_decimals_and_money_with_separators(client, client_for):
    pickup = (-6.175199999999999, 106.82715300000001)
    driver_online(300, point=pickup)
    ask_for_ride(client_for(make_passenger()), pickup=pickup, destination=(pickup[0] - 0.01, pickup[1]))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request = RideRequest.objects.get()

    html = client.get(f"/admin/matching/riderequest/{request.id}/change/").content.decode()
    listing = client.get("/admin/matching/riderequest/").content.decode()

    assert "-6.17520, 106.82715" in html and "-6.18520, 106.82715" in html
    assert "-6.175199999999999" not in html and "106.82715300000001" not in html
    assert "3,336 IDR" in html and "3,336 IDR" in listing and "1.11 km" in html
    assert "300 m" in html  # the match's distance to the pickup
    assert "Match object" not in html
