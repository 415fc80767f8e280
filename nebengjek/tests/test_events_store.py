"""The events' one-statement store on PostgreSQL (nebengjek.realtime._events_store_sql) stores exactly what the ORM
version does: the same seqs per user, in order, the same types and payloads."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from nebengjek import realtime
from nebengjek.models import Event, EventCursor


def _stored():
    return [(str(e.user_id), e.seq, e.type, e.payload) for e in Event.objects.order_by("user_id", "seq")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement store is PostgreSQL's")
def test_the_one_statement_store_matches_the_orm_store_row_for_row():
    users = [str(make_passenger().pk), str(make_driver().pk)]
    batches = [
        [(users[0], "a", {"n": 1}), (users[1], "a", {"n": 1}), (users[0], "b", {"nested": {"x": [1, 2]}})],
        [(users[1], "c", {"n": 3}), (users[1], "c", {"n": 4})],
    ]
    results = {}
    for store in (realtime._events_store_orm, realtime._events_store_sql):
        Event.objects.all().delete()
        EventCursor.objects.all().delete()
        returned = []
        for batch in batches:
            with transaction.atomic():
                returned += [(str(e.user_id), e.seq, e.type, e.payload) for e in store(batch, timezone.now(), "")]
        results[store.__name__] = (
            _stored(),
            sorted(returned),
            sorted(EventCursor.objects.values_list("last_seq", flat=True)),
        )
    assert results["_events_store_sql"] == results["_events_store_orm"]
    assert [seq for user, seq, _, _ in results["_events_store_orm"][0] if user == users[1]] == [1, 2, 3]
