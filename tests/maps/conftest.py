"""Fixtures of the map tests: reports placed through the intake service, photos, and a headless
Chromium (the distribution's package, driven by Playwright; no browser download)."""

import io
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from PIL import Image

from geo_ops.reports.models import Report, Status
from geo_ops.reports.services import Reporter, report_create

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "maps"


# Personal data that must never reach a public page or response.
SECRET_NAME, SECRET_PHONE, SECRET_EMAIL = "Huda Al-Dossary", "+966559876543", "huda@example.sa"


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


def contact_is_absent(text: str) -> bool:
    return not any(secret in text for secret in (SECRET_NAME, SECRET_PHONE, SECRET_EMAIL))
