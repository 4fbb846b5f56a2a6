"""The public pages without a browser: map page, "Report a problem", photos, track pages."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from geo_ops.reports.models import EventKind, Report, ReportEvent, Status
from maps.photos import PhotoError, photo_clean
from tests.conftest import DAMMAM_CORNICHE, OPEN_GULF
from tests.maps.conftest import (
    SECRET_EMAIL,
    SECRET_NAME,
    SECRET_PHONE,
    contact_is_absent,
    jpeg_with_gps,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client(HTTP_HOST="127.0.0.1")


@pytest.fixture
def arabic_client():
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["django_language"] = "ar"
    return client


def form_data(**overrides):
    data = {
        "category": "roads_networks",
        "subcategory": "pothole",
        "description": "Deep pothole by the corniche",
        "lat": str(DAMMAM_CORNICHE[1]),
        "lon": str(DAMMAM_CORNICHE[0]),
        "submission_id": "",
    }
    data.update(overrides)
    return data


# --- the map page -------------------------------------------------------------------------


def test_map_page_loads_everything_from_the_app(client, settings):
    settings.GEO_OPS_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en" dir="ltr">' in html
    assert 'name="viewport"' in html
    # Every script and stylesheet is the app's own; the only other host is the tile server.
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert links and all(link.startswith("/") or link.startswith("#") for link in links), links
    hosts = set(re.findall(r"https?://([^/\"'\s]+)", html))
    assert hosts == {"tiles.example.org"}, hosts
    for asset in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/maps/public_map.js",
    ):
        assert asset in html
    # No point data in the page: the script reads it from the endpoint.
    assert "open-reports.json" in html and "EP0" not in html


def test_map_page_has_filter_legend_labels_and_categories(client):
    html = client.get("/").content.decode()
    assert 'id="category-filter"' in html
    assert "Markets and public health" in html and "Public cleanliness" in html
    assert "Legend" in html  # the legend's title, in the page config


def test_arabic_map_page_is_rtl_with_arabic_names(arabic_client):
    response = arabic_client.get("/")
    html = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert "الأسواق والصحة العامة" in html and "النظافة العامة" in html
    assert "الإبلاغ عن مشكلة" in html  # "Report a problem"
    assert "Markets and public health" not in html


def test_static_assets_are_served(client):
    from django.contrib.staticfiles import finders

    for path in (
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
        "vendor/leaflet.markercluster/MarkerCluster.css",
        "maps/public_map.js",
        "maps/public.css",
    ):
        assert finders.find(path), f"{path} not found: run `npm ci`"


def test_report_focus_link_centres_on_the_public_location(client, make_report):
    report = make_report("food_hygiene", 50.10337, 26.44251)
    html = client.get("/", {"report": report.tracking_number}).content.decode()
    assert report.tracking_number in html
    assert "50.10337" not in html  # the coarsened point, not the exact one


# --- "Report a problem" -------------------------------------------------------------------


def test_report_form_stores_a_web_report_and_shows_its_tracking_number(client):
    response = client.post("/report/", form_data(), follow=True)
    assert response.status_code == 200
    report = Report.objects.get()
    assert (report.channel, report.status, report.branch.code) == ("web", "new", "dammam")
    assert report.subcategory.code == "pothole" and report.category.code == "roads_networks"
    assert response.redirect_chain == [(f"/track/{report.tracking_number}/", 302)]
    html = response.content.decode()
    assert report.tracking_number in html and "Thank you" in html
    event = ReportEvent.objects.get(report=report)
    assert (event.kind, event.actor_label) == (EventKind.CREATED, "web:public-map")


def test_double_submitted_form_stores_one_report(client):
    data = form_data(submission_id="0123456789abcdef")
    first = client.post("/report/", data)
    second = client.post("/report/", data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Report.objects.count() == 1
    # The same form brought back (browser "back") for another problem is a new report.
    third = client.post("/report/", {**data, "description": "Broken kerb two houses down"})
    assert third.status_code == 302 and third["Location"] != first["Location"]
    assert Report.objects.count() == 2


@pytest.mark.parametrize(
    "overrides, field_text",
    [
        ({"lat": "", "lon": ""}, "Click the map where the problem is."),
        ({"lat": str(OPEN_GULF[1]), "lon": str(OPEN_GULF[0])}, "outside the service area"),
        ({"lat": "95", "lon": "50"}, "less than or equal to 90"),
        ({"category": ""}, "This field is required."),
        ({"subcategory": "food_hygiene"}, "Choose a type of problem of the chosen category."),
        ({"subcategory": "nope"}, "Select a valid choice."),
        ({"description": ""}, "Describe the problem."),
        ({"description": "x" * 4001}, "at most 4000 characters"),
    ],
)
def test_bad_input_shows_the_error_and_keeps_what_was_typed(client, overrides, field_text):
    data = form_data(**{"description": "Water pooling after rain", **overrides})
    response = client.post("/report/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert field_text in html
    assert Report.objects.count() == 0
    if data["description"] and len(data["description"]) < 100:
        assert data["description"] in html  # what the user typed is still in the form
    if data["category"]:
        assert f'<option value="{data["category"]}" selected>' in html
    assert 'id="report-panel"' in html and "report-open" in html


def test_form_error_in_arabic(arabic_client):
    response = arabic_client.post("/report/", form_data(lat="", lon=""))
    assert response.status_code == 400
    assert "انقر على الخريطة في موقع المشكلة." in response.content.decode()


def test_photo_is_stored_without_metadata(client, media_root):
    photo = SimpleUploadedFile("p.jpg", jpeg_with_gps(), content_type="image/jpeg")
    response = client.post("/report/", {**form_data(), "photo": photo})
    assert response.status_code == 302, response.content.decode()[:2000]
    report = Report.objects.get()
    assert report.media_url.startswith("http://127.0.0.1/media/report-photos/")
    assert report.media_url.endswith(".jpg")
    stored = list(media_root.rglob("*.jpg"))
    assert len(stored) == 1
    with Image.open(stored[0]) as image:
        assert image.format == "JPEG"
        assert not image.getexif()  # no GPS, no camera model, no orientation
        assert "exif" not in image.info and "xmp" not in image.info
        assert image.size == (48, 64)  # the EXIF orientation was applied to the pixels
    assert b"Secret Phone Model" not in stored[0].read_bytes()
    # The photo is served at the stored URL.
    path = report.media_url.removeprefix("http://127.0.0.1")
    served = client.get(path)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == stored[0].read_bytes()


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("WEBP", "webp")])
def test_png_and_webp_photos_are_accepted(fmt, ext):
    image = Image.new("RGBA", (20, 10), (0, 128, 0, 255))
    out = io.BytesIO()
    image.save(out, format=fmt)
    photo = photo_clean(upload=SimpleUploadedFile(f"p.{ext}", out.getvalue()))
    assert photo.extension == ext
    with Image.open(io.BytesIO(photo.content)) as reread:
        assert reread.format == fmt and reread.size == (20, 10)


def test_a_non_image_named_jpg_is_refused(client, media_root):
    fake = SimpleUploadedFile("p.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg")
    response = client.post("/report/", {**form_data(), "photo": fake})
    assert response.status_code == 400
    assert "Upload a photo in JPEG, PNG or WebP format." in response.content.decode()
    assert Report.objects.count() == 0 and not list(media_root.rglob("*.*"))


def test_a_gif_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="GIF")
    with pytest.raises(PhotoError):
        photo_clean(upload=SimpleUploadedFile("p.gif", out.getvalue()))


def test_a_too_large_photo_is_refused(client, media_root, settings):
    settings.GEO_OPS_PHOTO_MAX_BYTES = 1000
    photo = SimpleUploadedFile("p.jpg", jpeg_with_gps((400, 400)), content_type="image/jpeg")
    assert photo.size > 1000
    response = client.post("/report/", {**form_data(), "photo": photo})
    assert response.status_code == 400
    assert "The photo is too large" in response.content.decode()
    assert Report.objects.count() == 0


def test_photo_is_not_written_when_the_report_is_refused(client, media_root):
    photo = SimpleUploadedFile("p.jpg", jpeg_with_gps(), content_type="image/jpeg")
    data = {**form_data(lat=str(OPEN_GULF[1]), lon=str(OPEN_GULF[0])), "photo": photo}
    response = client.post("/report/", data)
    assert response.status_code == 400
    assert not media_root.exists() or not list(media_root.rglob("*.*"))


def test_report_form_needs_csrf():
    client = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
    assert client.post("/report/", form_data()).status_code == 403
    assert Report.objects.count() == 0


# --- track pages --------------------------------------------------------------------------


def test_track_page_shows_status_and_public_history_only(client, make_report):
    report = make_report("pothole", *DAMMAM_CORNICHE)
    ReportEvent.objects.create(
        report=report,
        actor_label="user:supervisor1",
        kind=EventKind.STATUS_CHANGED,
        from_status=Status.NEW,
        to_status=Status.ASSIGNED,
        note="Crew 7 will repair it this week",
        public=True,
    )
    ReportEvent.objects.create(
        report=report,
        actor_label="user:supervisor1",
        kind=EventKind.NOTE,
        note="Internal: caller was rude",
        public=False,
    )
    Report.objects.filter(pk=report.pk).update(status=Status.ASSIGNED)
    response = client.get(f"/track/{report.tracking_number}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert report.tracking_number in html
    assert "Assigned" in html and "Crew 7 will repair it this week" in html
    assert "Received" in html and "Pothole" in html and "Dammam" in html
    assert "Internal: caller was rude" not in html
    assert "supervisor1" not in html and report.description not in html
    assert contact_is_absent(html)
    assert f"/?report={report.tracking_number}" in html  # open: "Show on the map"


def test_track_page_in_arabic(arabic_client, make_report):
    report = make_report("pothole", *DAMMAM_CORNICHE)
    html = arabic_client.get(f"/track/{report.tracking_number}/").content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert "حفرة في الطريق" in html and "الدمام" in html and "جديد" in html


def test_unknown_tracking_number_is_a_404_page(client):
    response = client.get("/track/EP99999999/")
    assert response.status_code == 404
    assert "Report not found" in response.content.decode()
    assert client.get("/track/" + "x" * 300 + "/").status_code == 404


def test_track_lookup_redirects_to_the_report(client, make_report):
    report = make_report("pothole", *DAMMAM_CORNICHE)
    response = client.get("/track/", {"number": report.tracking_number.lower()})
    assert response.status_code == 302
    assert response["Location"] == f"/track/{report.tracking_number}/"
    missing = client.get("/track/", {"number": "EP99999999"})
    assert missing.status_code == 400
    assert "No report has this tracking number." in missing.content.decode()
    assert client.get("/track/").status_code == 200


def test_no_public_page_shows_contact_data(client, make_report):
    report = make_report("food_hygiene", 50.10337, 26.44251)
    for url in ("/", f"/?report={report.tracking_number}", f"/track/{report.tracking_number}/"):
        html = client.get(url).content.decode()
        assert contact_is_absent(html), url
    for secret in (SECRET_NAME, SECRET_PHONE, SECRET_EMAIL):
        assert secret in report.contact.name + report.contact.phone + report.contact.email
