"""Fixtures of the map tests: reports placed through the intake service, photos, and a headless
Chromium (the distribution's package, driven by Playwright; no browser download)."""

import io
import os
import shutil
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from PIL import Image

from geo_ops.reports.models import Report, Status
from geo_ops.reports.services import Reporter, report_create
from layers.services import boundaries_import
from tests.conftest import BRANCHES_FIXTURE, CATEGORIES_FIXTURE

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "maps"


def _find_chromium() -> str:
    """GEO_OPS_CHROMIUM, else the distribution's Chromium (Debian: chromium, Ubuntu:
    chromium-browser); never a browser downloaded by Playwright."""
    if os.environ.get("GEO_OPS_CHROMIUM"):
        return os.environ["GEO_OPS_CHROMIUM"]
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium"


CHROMIUM = _find_chromium()
# Flags for a sandbox-less container and a browser that must not call home (update checks,
# sync, field trials): every request it makes is the page's own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Personal data that must never reach a public page or response.
SECRET_NAME, SECRET_PHONE, SECRET_EMAIL = "Huda Al-Dossary", "+966559876543", "huda@example.sa"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives the public pages in a real headless Chromium (Playwright)"
    )


def place_report(
    subcategory: str,
    lon: float,
    lat: float,
    *,
    status: str = Status.NEW,
    description: str = "",
    with_contact: bool = True,
) -> Report:
    """A report stored through the intake service (branch join, audit event), then moved to
    `status` the way staff would (an update, since there is no workflow service yet)."""
    report, _created = report_create(
        category_code=subcategory,
        location=Point(lon, lat, srid=4326),
        channel="app",
        description=description or f"{subcategory} near {lon:.4f},{lat:.4f}",
        reporter=Reporter(name=SECRET_NAME, phone=SECRET_PHONE, email=SECRET_EMAIL)
        if with_contact
        else None,
        actor_label="test",
    )
    if status != Status.NEW:
        Report.objects.filter(pk=report.pk).update(status=status)
        report.refresh_from_db()
    return report


@pytest.fixture
def make_report(db):
    return place_report


def jpeg_with_gps(size=(64, 48), color=(200, 60, 40)) -> bytes:
    """A small JPEG whose EXIF carries a GPS position, a camera model and an orientation."""
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x0110] = "Secret Phone Model"  # Model
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (26.0, 26.0, 31.2)
    gps[3] = "E"
    gps[4] = (50.0, 6.0, 10.8)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def reference_data(transactional_db):
    """Categories and branch boundaries for tests on a live server.

    live_server needs transactional tests, and Django empties every table after each of them:
    the session-loaded reference data (tests/conftest.py) is gone after the first one, so it is
    loaded again here. Both loads upsert.
    """
    call_command("loaddata", str(CATEGORIES_FIXTURE), verbosity=0)
    boundaries_import(
        path=BRANCHES_FIXTURE,
        code_field="code",
        name_field="name_en",
        name_ar_field="name_ar",
        population_field="population",
        commit=True,
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


def contact_is_absent(text: str) -> bool:
    return not any(secret in text for secret in (SECRET_NAME, SECRET_PHONE, SECRET_EMAIL))
