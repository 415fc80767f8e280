"""Dispatch shows on /metrics: proposals by outcome and the request -> first proposal latency."""

import re

from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
)


def metric(api_client, name, **labels):
    text = api_client.get("/metrics").content.decode()
    label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = (
        rf"^{re.escape(name)}{{{re.escape(label_text)}}} ([0-9.e+]+)$"
        if labels
        else rf"^{re.escape(name)} ([0-9.e+]+)$"
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_dispatched_batch_counts_proposals_sent_and_times_the_first_one(api_client, client_for):
    driver_online(300), driver_online(500)
    sent_before = metric(api_client, "nebengjek_proposals_total", outcome="sent")
    timed_before = metric(api_client, "nebengjek_request_to_proposal_seconds_count")

    ask_for_ride(client_for(make_passenger()))

    assert metric(api_client, "nebengjek_proposals_total", outcome="sent") == sent_before + 2
    assert metric(api_client, "nebengjek_request_to_proposal_seconds_count") == timed_before + 1


def test_accept_counts_one_accepted_and_the_rest_of_the_batch_cancelled(api_client, client_for):
    winner, _ = driver_online(300), driver_online(500)
    ask_for_ride(client_for(make_passenger()))
    accepted_before = metric(api_client, "nebengjek_proposals_total", outcome="accepted")
    cancelled_before = metric(api_client, "nebengjek_proposals_total", outcome="cancelled")

    client_for(winner).post(f"/api/v1/matches/{last_proposal(winner)['id']}/accept")

    assert metric(api_client, "nebengjek_proposals_total", outcome="accepted") == accepted_before + 1
    assert metric(api_client, "nebengjek_proposals_total", outcome="cancelled") == cancelled_before + 1
