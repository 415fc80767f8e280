"""POST /api/v1/rides/{id}/rating: one side of a completed ride rates the other (rides/ratings.py)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from nebengjek.inputs import StrictIntegerField
from rides.ratings import rating_create


class RatingInputSerializer(serializers.Serializer):
    stars = StrictIntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(
        max_length=settings.RATING_COMMENT_MAX_LENGTH, required=False, allow_blank=True, allow_null=True, default=""
    )
    # Which tags are allowed depends on the side being rated: the service checks them (settings.RATING_TAGS).
    tags = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, default=list, max_length=20
    )


class RatingOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ride_id = serializers.UUIDField()
    rated_user_id = serializers.UUIDField(source="ratee_id")
    rater_side = serializers.CharField()
    stars = serializers.IntegerField()
    comment = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class RideRateApi(APIView):
    @extend_schema(request=RatingInputSerializer, responses={201: RatingOutputSerializer})
    def post(self, request, ride_id):
        data = RatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = rating_create(
            ride_id=ride_id,
            rater=request.user,
            stars=data.validated_data["stars"],
            comment=data.validated_data["comment"] or "",
            tags=data.validated_data["tags"],
        )
        return Response(RatingOutputSerializer(rating).data, status=status.HTTP_201_CREATED)
