from rest_framework import serializers

from accounts.models import DriverProfile, User, VehicleType


class DriverProfileOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DriverProfile
        fields = ["vehicle_type", "vehicle_plate", "is_verified"]


class UserOutputSerializer(serializers.ModelSerializer):
    driver = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "msisdn", "full_name", "role", "driver"]

    def get_driver(self, user) -> DriverProfileOutputSerializer(allow_null=True):
        profile = getattr(user, "driver_profile", None)
        return DriverProfileOutputSerializer(profile).data if profile else None


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


class UserUpdateInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=120, allow_blank=False, trim_whitespace=True)


class DriverRegisterInputSerializer(serializers.Serializer):
    vehicle_type = serializers.ChoiceField(choices=VehicleType.choices)
    vehicle_plate = serializers.CharField(max_length=16)
