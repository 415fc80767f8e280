"""Operators see requests (with their matches) and matches in the admin."""
from accounts.models import User
from matching.models import Match, RideRequest
from matching.tests.helpers import ask_for_ride, driver_online, make_passenger


def test_the_admin_lists_and_shows_requests_and_matches(client, client_for):
    driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    request, match = RideRequest.objects.get(), Match.objects.get()

    pages = ["/admin/matching/riderequest/", f"/admin/matching/riderequest/{request.id}/change/",
             "/admin/matching/match/", f"/admin/matching/match/{match.id}/change/"]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200, 200]
