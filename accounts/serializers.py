from typing import cast

from django.conf import settings
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from accounts.models import DriverProfile, User, VehicleType
from accounts.services import sign_in_session_refresh_check


class DriverProfileOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DriverProfile
        fields = ["vehicle_type", "vehicle_plate", "is_verified"]


class UserRatingOutputSerializer(serializers.Serializer):
    average = serializers.FloatField(help_text="Mean stars of the last 100 ratings received, 2 decimals.")
    count = serializers.IntegerField(help_text="All ratings ever received.")


def rating_payload(user):
    """A user's rating as clients see it (/me, match.proposal, match.accepted): {"average", "count"} or None."""
    if user.rating_average is None:
        return None
    return {"average": float(user.rating_average), "count": user.rating_count}


class UserOutputSerializer(serializers.ModelSerializer):
    driver = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "msisdn", "full_name", "role", "driver", "rating"]

    def get_driver(self, user) -> DriverProfileOutputSerializer(allow_null=True):
        profile = getattr(user, "driver_profile", None)
        return DriverProfileOutputSerializer(profile).data if profile else None

    def get_rating(self, user) -> UserRatingOutputSerializer(allow_null=True):
        return rating_payload(user)


class OtpRequestInputSerializer(serializers.Serializer):
    msisdn = serializers.CharField(max_length=32, allow_blank=True)  # a blank number is `invalid_msisdn`


class OtpRequestOutputSerializer(serializers.Serializer):
    msisdn = serializers.CharField()
    expires_in = serializers.IntegerField()


class OtpVerifyInputSerializer(serializers.Serializer):
    msisdn = serializers.CharField(max_length=32)
    code = serializers.RegexField(r"^\d{6}$", error_messages={"invalid": "A code is 6 digits."})


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class OtpVerifyOutputSerializer(TokenPairOutputSerializer):
    user = UserOutputSerializer()
    is_new_user = serializers.BooleanField()


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class SessionTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh (rotation keeps every claim, the `sid` too), refused also when the token's sign-in session
    is revoked. Run it in a transaction: the session check may write (services.sign_in_session_refresh_check)."""

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # TokenError (401) when bad, expired or blacklisted
        sid = refresh.payload.get("sid")
        if sid:
            user_id = cast(str, refresh.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]))  # simplejwt verified it
            sign_in_session_refresh_check(user_id=user_id, sid=sid)
        return super().validate(attrs)


class UserUpdateInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=120, allow_blank=False, trim_whitespace=True)


class DriverRegisterInputSerializer(serializers.Serializer):
    vehicle_type = serializers.ChoiceField(choices=VehicleType.choices)
    vehicle_plate = serializers.CharField(max_length=16)
