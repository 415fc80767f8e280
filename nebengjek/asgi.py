"""ASGI entry point (`nebengjek.asgi:application`): Django set up first, then the edge app's application."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

if settings.ASGI_GIL_SWITCH_INTERVAL_MS:
    sys.setswitchinterval(settings.ASGI_GIL_SWITCH_INTERVAL_MS / 1000)

from gateway.asgi import application  # noqa: E402  (needs Django set up first)

__all__ = ["application"]
