"""The database half of `make setup`, run with the venv's Python by scripts/setup.sh.

Creates the database named by the settings (DATABASE_URL) when it is missing, enables PostGIS in
it, then runs the equivalent of

    manage.py migrate
    manage.py loaddata fixtures/categories.json
    manage.py import_boundaries fixtures/boundaries/eastern_province_branches.geojson \
        --code-field code --name-field name_en --name-ar-field name_ar \
        --population-field population --commit
    manage.py loaddata business_calendar departments
    manage.py load_crews fieldteams/fixtures/demo_crews.json --commit

in one process (Django and geopandas start once instead of three times). Every step is
idempotent: migrations apply only what is new, both fixture loads upsert by natural code, and
nothing is ever dropped.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo_ops.settings.local")

CATEGORIES = ROOT / "fixtures" / "categories.json"
BOUNDARIES = ROOT / "fixtures" / "boundaries" / "eastern_province_branches.geojson"
CREWS = ROOT / "fieldteams" / "fixtures" / "demo_crews.json"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def info(message: str) -> None:
    print(f"    {message}", flush=True)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def connect(db: dict, name: str):
    """A psycopg2 connection to database `name` on the settings' server, in autocommit."""
    import psycopg2

    params = {
        "dbname": name,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 10,
        **(db.get("OPTIONS") or {}),
    }
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None})
    conn.autocommit = True
    return conn


def ensure_database(db: dict) -> None:
    """Create the database if it is missing and enable PostGIS in it."""
    import psycopg2
    from psycopg2 import sql

    name = db["NAME"]
    where = f"{db.get('HOST') or 'socket'}:{db.get('PORT') or 5432}"
    step(f"Database {name} on {where}")
    try:
        conn = connect(db, name)
    except psycopg2.OperationalError as exc:
        if f'database "{name}" does not exist' not in str(exc):
            fail(f"cannot connect to {name} on {where} as {db.get('USER')}: {exc}".strip())
        admin = None
        for maintenance_db in ("postgres", "template1"):
            try:
                admin = connect(db, maintenance_db)
                break
            except psycopg2.OperationalError as admin_exc:
                last_error = admin_exc
        if admin is None:
            fail(f"cannot connect to {where} to create {name}: {last_error}".strip())
        info(f"creating database {name}")
        # No `with admin:`: psycopg2 would open a transaction, and CREATE DATABASE refuses one.
        with admin.cursor() as cur:
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg2.errors.DuplicateDatabase:
                pass  # created meanwhile by a concurrent set-up
            except psycopg2.Error as create_exc:
                fail(f"cannot create database {name}: {create_exc}".strip())
        admin.close()
        conn = connect(db, name)
    with conn.cursor() as cur:
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg2.errors.UniqueViolation:
            pass  # a concurrent CREATE EXTENSION won the race
        except psycopg2.Error as exc:
            hint = (
                "install PostGIS 3 on the server (Debian: postgresql-<major>-postgis-3)"
                if "control file" in str(exc) or "not available" in str(exc)
                else "the role needs to be a superuser or the database owner"
            )
            fail(f"CREATE EXTENSION postgis failed in {name}: {str(exc).strip()} ({hint})")
        cur.execute("SELECT current_setting('server_version'), postgis_lib_version()")
        server, postgis = cur.fetchone()
    conn.close()
    info(f"PostgreSQL {server}, PostGIS {postgis}")


def main() -> None:
    from django.conf import settings

    ensure_database(settings.DATABASES["default"])

    import django
    from django.core.management import call_command

    try:
        django.setup()
        from django.contrib.gis.gdal import gdal_full_version
        from django.contrib.gis.geos import geos_version
    except Exception as exc:  # GDAL/GEOS missing makes GeoDjango fail here, with a long trace
        fail(f"GeoDjango cannot start ({exc}); is GDAL installed (Debian: gdal-bin)?")
    info(f"{gdal_full_version().decode()}, GEOS {geos_version().decode()}")

    started = time.perf_counter()
    step("Migrations (manage.py migrate)")
    call_command("migrate", interactive=False, verbosity=1)

    step(f"Categories fixture (manage.py loaddata {CATEGORIES.relative_to(ROOT)})")
    call_command("loaddata", str(CATEGORIES), verbosity=1)

    step(f"Boundaries (manage.py import_boundaries {BOUNDARIES.relative_to(ROOT)} --commit)")
    call_command(
        "import_boundaries",
        str(BOUNDARIES),
        code_field="code",
        name_field="name_en",
        name_ar_field="name_ar",
        population_field="population",
        commit=True,
    )
    step("Field teams (manage.py loaddata business_calendar departments; load_crews --commit)")
    call_command("loaddata", "business_calendar", "departments", verbosity=1)
    call_command("load_crews", str(CREWS), commit=True)
    info(f"database steps took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
