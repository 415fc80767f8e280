"""GET /api/v1/events: the REST twin of the socket's `resume`."""
from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from nebengjek.realtime import events_after


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=settings.EVENTS_PAGE_MAX, default=100)


class EventListApi(APIView):
    """My stored events with `seq` > `after`, oldest first, at most `limit` (default 100, max 500).

    Shape of a list: `count` (how many are in this page), `next` (the URL of the following page, or null once
    this page reaches the newest event), `previous` (always null), `results` (each exactly as the socket sent it).
    """

    @extend_schema(parameters=[EventsQuerySerializer], responses={200: inline_serializer("EventPage", {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": serializers.ListField(child=serializers.DictField()),
    })})
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
        return Response({"count": len(page), "next": next_url, "previous": None,
                         "results": [event.as_message() for event in page]})
