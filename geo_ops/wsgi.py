"""WSGI entry point (gunicorn geo_ops.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo_ops.settings.local")
application = get_wsgi_application()
