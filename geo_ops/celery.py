"""The Celery app: heavy and periodic work (re-dispatch, overdue escalation) runs in workers.

    celery -A geo_ops worker -l info        # the workers
    celery -A geo_ops beat -l info          # the periodic schedule (settings.CELERY_BEAT_SCHEDULE)

The broker is CELERY_BROKER_URL (Redis at 127.0.0.1:6379 by default). Tests never need a
running worker: they call the task functions directly or with `.apply()`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo_ops.settings.local")

app = Celery("geo_ops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
