"""gunicorn settings (not Django's): `gunicorn -c python:geo_ops.settings.gunicorn geo_ops.wsgi`.

One place for how the web tier is served, so that production, `make serve` and the live-intake
benchmark (bench/live_intake.py) run the same way; options on the command line still win.

Threaded workers: an intake request makes 8 round trips to PostgreSQL, and a sync worker idles
through each of them (longer still when the machine is busy) and closes the connection after
every response; with gthread another thread of the same worker runs Python meanwhile, and
clients keep their connections alive. Measured with 2 workers on 2 shared cores, interleaved
runs under 16 clients: 270-310 reports/s against 100-210 for sync workers. Four threads per
worker did best of 2, 4 and 8 (each thread holds its own database connection).
"""

import os

workers = int(os.environ.get("GEO_OPS_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GEO_OPS_THREADS", "4"))
