"""ASGI entry point (`nebengjek.asgi:application`): Django set up first, then the edge app's application."""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
django.setup(set_prefix=False)

from gateway.asgi import application  # noqa: E402  (needs Django set up first)

__all__ = ["application"]
