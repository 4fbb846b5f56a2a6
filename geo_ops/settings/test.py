"""Test runs: real PostGIS, fast password hashing."""

from .base import *  # noqa: F403
from .base import env

# The demo data generator and its hotspot truth check (not shipped to production).
INSTALLED_APPS = [*INSTALLED_APPS, "geo_ops.demo"]  # noqa: F405

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-insecure-key")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Tests never run collectstatic: WhiteNoise serves the files from the app and package folders
# (the finders) instead of warning about an empty STATIC_ROOT on a fresh checkout.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
