"""Pluggable SMS delivery (settings.SMS_BACKEND). The console backend is for development only."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

sms_logger = logging.getLogger("nebengjek.sms")


class BaseSmsBackend:
    def send(self, *, msisdn, text):
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Prints `SMS to +62…: <text>` as one line of the server log."""

    def send(self, *, msisdn, text):
        sms_logger.info("SMS to %s: %s", msisdn, text)


def get_sms_backend():
    return import_string(settings.SMS_BACKEND)()
