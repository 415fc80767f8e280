"""Password sign-in (the admin) by phone number in any format the API accepts: `0811…`, `62811…`, `+62 811-…`."""

from django.contrib.auth.backends import ModelBackend

from accounts.msisdn import normalize_msisdn


class MsisdnModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        return super().authenticate(
            request, username=normalize_msisdn(username) or username, password=password, **kwargs
        )
