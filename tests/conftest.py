"""Shared fixtures. The test database is real PostGIS; the reference data (the category fixture
and the ten real Eastern Province branch municipalities) is loaded once per test database and
every test runs in a transaction that is rolled back."""

import os
from pathlib import Path

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command
from django.db import connection

from layers.models import BranchMunicipality
from layers.services import boundaries_import, boundary_pieces_refresh
from tests.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TILE_HOST, Browsing

REPO = Path(__file__).resolve().parent.parent
BRANCHES_FIXTURE = REPO / "fixtures" / "boundaries" / "eastern_province_branches.geojson"
CATEGORIES_FIXTURE = REPO / "fixtures" / "categories.json"

# Points well inside real branch municipalities (lon, lat).
DAMMAM_CORNICHE = (50.1030, 26.4420)
KHOBAR_CENTRE = (50.2083, 26.2794)
# In the Arabian Gulf, between Bahrain and the coast: outside every branch.
OPEN_GULF = (50.75, 26.6)


# The real branches with their side tables, as the session imported them; copied into tables
# Django's flush does not know, for `reference_data` to put back (see there).
BOUNDARY_TABLES = (
    "layers_branchmunicipality",
    "layers_branchmunicipalitypiece",
    "layers_branchmunicipalitycell",
)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the reference data once; both loads upsert, so a reused database is fine."""
    with django_db_blocker.unblock():
        call_command("loaddata", str(CATEGORIES_FIXTURE), verbosity=0)
        boundaries_import(
            path=BRANCHES_FIXTURE,
            code_field="code",
            name_field="name_en",
            name_ar_field="name_ar",
            population_field="population",
            commit=True,
        )
        with connection.cursor() as cursor:
            for table in BOUNDARY_TABLES:
                cursor.execute(
                    f"DROP TABLE IF EXISTS tests_saved_{table}; "
                    f"CREATE TABLE tests_saved_{table} AS SELECT * FROM {table}"
                )


@pytest.fixture
def make_branch(db):
    """Create a branch municipality from a WGS84 polygon ring (lon, lat pairs) with its pieces."""

    def make(code: str, ring: list[tuple[float, float]], name_ar: str = "") -> BranchMunicipality:
        branch = BranchMunicipality.objects.create(
            code=code,
            name_en=code.title(),
            name_ar=name_ar or code,
            geom=MultiPolygon(Polygon(ring, srid=4326), srid=4326),
        )
        boundary_pieces_refresh(layer="branch", ids=[branch.pk])
        return branch

    return make


# --- browser tests (tests/browser.py has the helpers) -------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives the pages in a real headless Chromium (Playwright)"
    )


@pytest.fixture
def reference_data(transactional_db):
    """Categories and branch boundaries for tests on a live server.

    live_server needs transactional tests, and Django empties every table after each of them:
    the session-loaded reference data (tests/conftest.py) is gone after the first one, so it is
    loaded again here. The categories upsert; the branches, their pieces and grid cells are
    copied back as the session's import made them (importing them again would rebuild their
    grid cells, ~3 s a test; the import itself is tested in tests/layers).
    """
    call_command("loaddata", str(CATEGORIES_FIXTURE), verbosity=0)
    with connection.cursor() as cursor:
        for table in BOUNDARY_TABLES:
            cursor.execute(
                f"INSERT INTO {table} SELECT * FROM tests_saved_{table} ON CONFLICT DO NOTHING"
            )


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session, from the distribution's package."""
    if os.environ.get("GEO_OPS_SKIP_BROWSER_TESTS") == "1":
        pytest.skip("GEO_OPS_SKIP_BROWSER_TESTS=1")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `make setup` installs the distribution's "
            "chromium package (or set GEO_OPS_CHROMIUM to its path)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses
    # database calls from a thread with a running loop (it assumes async code). These calls are
    # synchronous test code, so the check is turned off while the browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site(live_server, reference_data, settings, tmp_path):
    settings.GEO_OPS_TILE_URL = f"http://{TILE_HOST}/{{z}}/{{x}}/{{y}}.png"
    settings.GEO_OPS_TILE_ATTRIBUTION = "Test tiles"
    settings.MEDIA_ROOT = tmp_path / "media"
    return live_server.url


@pytest.fixture
def browse(chromium, site, tmp_path):
    opened = []

    def open_(*, viewport=DESKTOP, mobile=False) -> Browsing:
        browsing = Browsing(chromium, site, viewport=viewport, mobile=mobile, tmp_path=tmp_path)
        opened.append(browsing)
        return browsing

    yield open_
    for browsing in opened:
        browsing.close()
