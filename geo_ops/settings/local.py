"""Developer machine: works out of the box against the local PostgreSQL."""

from .base import *  # noqa: F403
from .base import env

# The demo data generator and its hotspot truth check (not shipped to production).
INSTALLED_APPS = [*INSTALLED_APPS, "geo_ops.demo"]  # noqa: F405

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-insecure-development-key-not-for-production")
