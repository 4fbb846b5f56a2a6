"""Settings shared by every environment; values that differ between machines come from the env."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file beside manage.py is optional; real deployments set the environment directly.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "layers",
    "geo_ops.reports",
    "geo_ops.hotspots",
    "fieldteams",
    "maps",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files (Leaflet and the page assets) under gunicorn; no CDN, no nginx.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "geo_ops.urls"
WSGI_APPLICATION = "geo_ops.wsgi.application"
ASGI_APPLICATION = "geo_ops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "geo_ops" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# postgis://user:password@host:port/name. The local default uses the machine's PostgreSQL over
# TCP with trust authentication, which is what `make setup` prepares.
DATABASES = {"default": env.db("DATABASE_URL", default="postgis://postgres@127.0.0.1:5432/geo_ops")}
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
# Persistent connections: opening a PostgreSQL connection costs several milliseconds, which
# would dominate a 5 ms intake request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Intake's hot raw-SQL statements are server-side prepared statements (geo_ops.db.prepared.
# PreparedStatement) so that PostgreSQL plans them once per connection. With the default
# plan_cache_mode (auto) it kept re-planning dispatch's candidates statement on every call (its
# generic plan's estimate looks costlier than the custom plans': an array of unknown length),
# and planning is what it costs. Only prepared statements and PL/pgSQL function bodies use the
# plan cache; Django's own queries are unaffected.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c plan_cache_mode=force_generic_plan"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
LOCALE_PATHS = [BASE_DIR / "geo_ops" / "locale"]
TIME_ZONE = "Asia/Riyadh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Browser libraries come from npm (package.json, `npm ci`) and are served from node_modules/ by
# prefix, so the app itself serves them (no CDN) and nothing is copied into the source tree.
# Only the dist/ folders are exposed; maps/checks.py warns when `npm ci` has not been run.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
    ("vendor/leaflet.markercluster", NODE_MODULES / "leaflet.markercluster" / "dist"),
]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "var" / "static")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "var" / "media")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
        # Crew phones and partner systems: `Authorization: Token <key>`.
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "geo_ops.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "geo_ops API",
    "DESCRIPTION": "Citizen reports, branch municipalities and field operations.",
    "VERSION": "1.0.0",
}

# --- geo_ops ---------------------------------------------------------------------------------
# Metric CRS for anything measured in metres (duplicate radius, DBSCAN eps, buffers): UTM 39N
# covers the Eastern Province.
GEO_OPS_METRIC_SRID = env.int("GEO_OPS_METRIC_SRID", default=32639)
# ST_Subdivide vertex limit for the boundary side table the point joins use. Small pieces keep
# each point-in-polygon test cheap and the GiST boxes tight (mapit uses the same trick).
GEO_OPS_SUBDIVIDE_MAX_VERTICES = env.int("GEO_OPS_SUBDIVIDE_MAX_VERTICES", default=128)
GEO_OPS_DESCRIPTION_MAX_CHARS = 4000
# Sessions that COPY one big CSV import in parts at the same time (geo_ops.db.staging); 0: one
# per core of this machine, at most 4 (set it to the database server's cores when that is another
# machine).
GEO_OPS_IMPORT_COPY_SESSIONS = env.int("GEO_OPS_IMPORT_COPY_SESSIONS", default=0)
# Basemap tiles for every map page (a setting so an offline deployment can point at its own).
GEO_OPS_TILE_URL = env("GEO_OPS_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
GEO_OPS_TILE_ATTRIBUTION = env("GEO_OPS_TILE_ATTRIBUTION", default="© OpenStreetMap contributors")

# --- fieldteams: business calendar and dispatch ---------------------------------------------
# The BusinessCalendar (code) on whose working time SLA clocks run; edited in the admin, cached
# per process for this many seconds (fieldteams/calendar.py).
GEO_OPS_BUSINESS_CALENDAR = env("GEO_OPS_BUSINESS_CALENDAR", default="default")
GEO_OPS_BUSINESS_CALENDAR_CACHE_SECONDS = env.int(
    "GEO_OPS_BUSINESS_CALENDAR_CACHE_SECONDS", default=300
)
# Dispatch cost of a crew (lower wins; fieldteams/dispatch.py documents the score): per open job,
# per open job falling due before the new one, per kilometre from the depot or nearest open job,
# per hour until the crew's next shift starts.
GEO_OPS_DISPATCH_WEIGHTS = {"open_job": 1.0, "due_earlier": 1.0, "km": 0.5, "shift_hour": 0.25}
# Intake dispatches in the same request; off only for benchmarks and bulk loads.
GEO_OPS_DISPATCH_ON_INTAKE = env.bool("GEO_OPS_DISPATCH_ON_INTAKE", default=True)

# --- fieldteams: route suggestions (fieldteams/routing/, README "Route plans") ----------------
# Travel-time provider (fieldteams.routing.travel.TravelTimes); a pgRouting one can replace it.
GEO_OPS_ROUTE_TRAVEL_TIMES = env(
    "GEO_OPS_ROUTE_TRAVEL_TIMES", default="fieldteams.routing.travel.GreatCircleTravelTimes"
)
# Road distance ~ great-circle distance x this factor (a city grid is 1.2-1.4).
GEO_OPS_ROUTE_DETOUR_FACTOR = env.float("GEO_OPS_ROUTE_DETOUR_FACTOR", default=1.35)
# Vehicle types of crews (CrewRouting.vehicle_type): average speed, and the load a truck carries
# before it must unload at a disposal site (None: no load limit, no disposal trips).
GEO_OPS_ROUTE_VEHICLE_TYPES = {
    "van": {"speed_kmh": 30.0, "capacity": None},
    "pickup": {"speed_kmh": 30.0, "capacity": None},
    "truck": {"speed_kmh": 22.0, "capacity": 12},
}
GEO_OPS_ROUTE_DEFAULT_VEHICLE = "van"
# Load one job puts on a truck, per (sub)category code; "default" for the rest.
GEO_OPS_ROUTE_JOB_LOAD = {"default": 1, "construction_debris": 4, "abandoned_vehicle": 6}
# Service time per job: the median of past completions (in_progress -> completed) of the
# subcategory over the last `days`, when there are at least `min_samples`, clipped to
# [min, max] minutes; otherwise the per-code default, else "default".
GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 30}
GEO_OPS_ROUTE_SERVICE_LEARNING = {"days": 180, "min_samples": 5, "min": 5, "max": 240}
# Hotspot cleanup stops (hotspots.HotspotCluster of the newest cluster run): minutes on site and
# load per report of the cluster (capped), and the least open reports a cluster needs.
GEO_OPS_ROUTE_HOTSPOT = {"minutes": 20, "load_per_report": 0.5, "max_load": 6, "min_open": 1}
# A shift's break: `minutes` long, starting between `earliest` and `latest` minutes after the
# shift starts (CrewRouting may override it per crew).
GEO_OPS_ROUTE_BREAK = {"minutes": 30, "earliest": 180, "latest": 300}
# Shift used for a crew without any CrewShift row (its shift calendar is then "always on").
GEO_OPS_ROUTE_DEFAULT_SHIFT = ("07:00", "15:00")
# Prize of a job per priority (1 low ... 4 urgent), in metres of driving it is worth: a job is
# left out only when the shift cannot hold it, the lowest priorities first.
GEO_OPS_ROUTE_PRIZES = {1: 30_000, 2: 100_000, 3: 300_000, 4: 1_000_000}
# Prize of an unassigned nearby report (relative to its priority's) and of a hotspot stop.
GEO_OPS_ROUTE_UNASSIGNED_PRIZE_FACTOR = 0.5
GEO_OPS_ROUTE_HOTSPOT_PRIZE = 15_000
GEO_OPS_ROUTE_UNASSIGNED_RADIUS_M = 3_000
# Solver wall time per plan (seconds) unless the request asks for less.
GEO_OPS_ROUTE_TIME_LIMIT_S = env.float("GEO_OPS_ROUTE_TIME_LIMIT_S", default=10.0)
GEO_OPS_ROUTE_MAX_TIME_LIMIT_S = 60.0
# The crew map orders jobs by the crew's newest plan of the day (fieldteams.selectors hook).
GEO_OPS_CREW_ROUTE_PROVIDER = "fieldteams.routing.selectors.crew_route_for_map"

# --- Celery: heavy and periodic work (re-dispatch, overdue escalation) -------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
# Task modules outside an app's tasks.py (route planning: fieldteams/routing/tasks.py).
CELERY_IMPORTS = ("fieldteams.routing.tasks",)
CELERY_BEAT_SCHEDULE = {
    "escalate-overdue": {
        "task": "fieldteams.tasks.escalate_overdue",
        "schedule": env.float("GEO_OPS_ESCALATE_EVERY_SECONDS", default=300.0),
    },
    "dispatch-backlog": {
        "task": "fieldteams.tasks.dispatch_backlog",
        "schedule": env.float("GEO_OPS_DISPATCH_BACKLOG_EVERY_SECONDS", default=900.0),
    },
    # Hotspot layers of the planner dashboard's default view (geo_ops/hotspots/tasks.py).
    "hotspots-recompute": {
        "task": "geo_ops.hotspots.tasks.recompute",
        "schedule": env.float("GEO_OPS_HOTSPOT_RECOMPUTE_EVERY_SECONDS", default=3600.0),
    },
    "hotspots-preventive-work": {
        "task": "fieldteams.tasks.preventive_work",
        "schedule": env.float("GEO_OPS_PREVENTIVE_WORK_EVERY_SECONDS", default=3600.0),
    },
}

# GDAL < 3.9 (Debian 12 ships 3.6) cannot block network access from spatial references; geo_ops
# only reads boundary files an administrator chose, so the warning is acknowledged here.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}
