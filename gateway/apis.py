"""GET /api/v1/events: the REST twin of the socket's `resume`."""

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from locations.events import EVENT_MESSAGES as LOCATIONS_EVENTS
from matching.events import EVENT_MESSAGES as MATCHING_EVENTS
from nebengjek.realtime import events_after
from rides.events import EVENT_MESSAGES as RIDES_EVENTS


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=settings.EVENTS_PAGE_MAX, default=100)


EventMessage = PolymorphicProxySerializer(
    component_name="EventMessage",
    resource_type_field_name="type",
    serializers={**LOCATIONS_EVENTS, **MATCHING_EVENTS, **RIDES_EVENTS},
)


@extend_schema_field(EventMessage)
class EventField(serializers.Field):
    """A stored event exactly as the socket sent it; documented as one of the domains' messages, by `type`."""

    def to_representation(self, event):
        return event.as_message()


class EventPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many events are in this page.")
    next = serializers.URLField(allow_null=True, help_text="The following page, or null at the newest event.")
    previous = serializers.URLField(allow_null=True, help_text="Always null.")
    results = serializers.ListField(child=EventField())

    class Meta:
        ref_name = "EventPage"


class EventListApi(APIView):
    """My stored events with `seq` > `after`, oldest first, at most `limit` (default 100, max 500).

    Shape of a list: `count` (how many are in this page), `next` (the URL of the following page, or null once
    this page reaches the newest event), `previous` (always null), `results` (each exactly as the socket sent it).
    """

    @extend_schema(parameters=[EventsQuerySerializer], responses={200: EventPageOutputSerializer})
    def get(self, request):
        query = EventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["after"], query.validated_data["limit"]
        page = events_after(user_id=request.user.pk, after=after, limit=limit + 1)
        more = len(page) > limit
        page = page[:limit]
        next_url = None
        if more:
            next_url = request.build_absolute_uri(f"{request.path}?after={page[-1].seq}&limit={limit}")
        return Response(
            EventPageOutputSerializer({"count": len(page), "next": next_url, "previous": None, "results": page}).data
        )
