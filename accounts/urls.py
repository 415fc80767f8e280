from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/otp/request", apis.OtpRequestApi.as_view(), name="otp-request"),
    path("auth/otp/verify", apis.OtpVerifyApi.as_view(), name="otp-verify"),
    path("auth/token/refresh", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="logout"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/driver", apis.DriverRegisterApi.as_view(), name="me-driver"),
]
