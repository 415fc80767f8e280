"""Inputs of the matching endpoints (outputs are built by matching.events, shared with the pushes)."""
from rest_framework import serializers

from matching.models import PaymentMethod
from nebengjek.inputs import StrictFloatField


class PointInputSerializer(serializers.Serializer):
    lat = StrictFloatField(min_value=-90, max_value=90)
    lng = StrictFloatField(min_value=-180, max_value=180)


class RequestCreateInputSerializer(serializers.Serializer):
    pickup = PointInputSerializer()
    destination = PointInputSerializer()
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CASH)


class RequestCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
