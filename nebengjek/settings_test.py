"""Test settings: the real settings, with Celery eager and a private embedded Redis when REDIS_URL is unset."""
import os

os.environ.setdefault("EMBEDDED_REDIS_PORT", "6391")  # not the `make run` one, whose data tests would flush
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("CHANNEL_PREFIX", "njtest")

from nebengjek.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
