from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from accounts import services
from accounts.selectors import user_get_for_output
from accounts.serializers import (
    DriverRegisterInputSerializer,
    OtpRequestInputSerializer,
    OtpRequestOutputSerializer,
    OtpVerifyInputSerializer,
    OtpVerifyOutputSerializer,
    RefreshInputSerializer,
    SessionTokenRefreshSerializer,
    TokenPairOutputSerializer,
    UserOutputSerializer,
    UserUpdateInputSerializer,
)
from nebengjek.throttling import RateScopedThrottle, client_ip


class OtpRequestApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=OtpRequestInputSerializer, responses={202: OtpRequestOutputSerializer})
    def post(self, request):
        data = OtpRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        msisdn, expires_in = services.otp_request(raw_msisdn=data.validated_data["msisdn"], ip=client_ip(request))
        return Response(
            OtpRequestOutputSerializer({"msisdn": msisdn, "expires_in": expires_in}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class OtpVerifyApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [RateScopedThrottle]
    throttle_scope = "otp_verify"

    @extend_schema(request=OtpVerifyInputSerializer, responses={200: OtpVerifyOutputSerializer})
    def post(self, request):
        data = OtpVerifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, tokens, is_new_user = services.otp_verify(
            raw_msisdn=data.validated_data["msisdn"], code=data.validated_data["code"]
        )
        return Response(
            OtpVerifyOutputSerializer({**tokens, "user": user_get_for_output(user.pk), "is_new_user": is_new_user}).data
        )


class TokenRefreshApi(TokenRefreshView):
    authentication_classes = ()
    serializer_class = SessionTokenRefreshSerializer

    @extend_schema(request=RefreshInputSerializer, responses={200: TokenPairOutputSerializer})
    def post(self, request, *args, **kwargs):
        with transaction.atomic():  # the session check, the blacklisting and the new token: all or nothing
            return super().post(request, *args, **kwargs)


class LogoutApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=RefreshInputSerializer, responses={204: None})
    def post(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.auth_logout(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request):
        return Response(UserOutputSerializer(user_get_for_output(request.user.pk)).data)

    @extend_schema(request=UserUpdateInputSerializer, responses={200: UserOutputSerializer})
    def patch(self, request):
        data = UserUpdateInputSerializer(data=request.data, partial=True)  # a field left out stays as it is
        data.is_valid(raise_exception=True)
        if "full_name" in data.validated_data:
            services.user_update(user=request.user, full_name=data.validated_data["full_name"])
        return Response(UserOutputSerializer(user_get_for_output(request.user.pk)).data)


class DriverRegisterApi(APIView):
    @extend_schema(request=DriverRegisterInputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = DriverRegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.driver_register(user=request.user, **data.validated_data)
        return Response(UserOutputSerializer(user_get_for_output(user.pk)).data, status=status.HTTP_201_CREATED)
