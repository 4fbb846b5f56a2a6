"""POST/GET /api/v1/reports/ and /api/v1/branches/: intake, validation, idempotency, privacy."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from fieldteams.calendar import working_calendar
from geo_ops.reports.models import Category, Report, ReporterContact, ReportEvent
from tests.conftest import DAMMAM_CORNICHE, KHOBAR_CENTRE, OPEN_GULF

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/reports/"
SECRET_NAME, SECRET_PHONE, SECRET_EMAIL = "Fatimah Al-Qahtani", "+966501234567", "fq@example.sa"


@pytest.fixture
def client():
    return Client(HTTP_HOST="127.0.0.1")


def post(client, body, raw=False):
    data = body if raw else json.dumps(body)
    return client.post(REPORTS, data, content_type="application/json")


def valid_body(**overrides):
    body = {
        "category": "pothole",
        "location": {"type": "Point", "coordinates": list(DAMMAM_CORNICHE)},
        "description": "Deep pothole in the right lane",
        "channel": "app",
        "reporter": {"name": SECRET_NAME, "phone": SECRET_PHONE, "email": SECRET_EMAIL},
    }
    body.update(overrides)
    return body


def test_post_creates_joins_and_audits(client):
    response = post(client, valid_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"id", "tracking_number", "branch", "status", "due_at"}
    assert body["branch"] == "dammam" and body["status"] == "new"
    assert body["tracking_number"].startswith("EP")

    report = Report.objects.get(pk=body["id"])
    pothole = Category.objects.get(code="pothole")
    assert report.category.code == "roads_networks" and report.subcategory == pothole
    # The SLA runs in working time on the business calendar (fieldteams.calendar).
    assert report.due_at == working_calendar().add_working_hours(
        report.created_at, pothole.sla_hours
    )
    assert report.priority == pothole.default_priority
    assert report.location.coords == pytest.approx(DAMMAM_CORNICHE)
    assert ReporterContact.objects.get(report=report).phone == SECRET_PHONE
    event = ReportEvent.objects.get(report=report)
    assert (event.kind, event.to_status, event.actor_label) == ("created", "new", "api:app")


def test_lat_lon_fields_and_numeric_strings_are_accepted(client):
    lon, lat = KHOBAR_CENTRE
    response = post(client, {"category": "public_cleanliness", "lat": str(lat), "lon": lon})
    assert response.status_code == 201, response.content
    assert response.json()["branch"] == "khobar"
    report = Report.objects.get(pk=response.json()["id"])
    assert report.subcategory is None and report.channel == "web"


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"category": "pothole"}, "location", "lat and lon"),
        ({"category": "pothole", "lat": 26.4}, "lon", "required"),
        ({"category": "pothole", "lat": "north", "lon": 50.1}, "lat", "number"),
        ({"category": "pothole", "lat": True, "lon": 50.1}, "lat", "number"),
        ({"category": "pothole", "lat": [26.4], "lon": 50.1}, "lat", "number"),
        ({"category": "pothole", "lat": "NaN", "lon": 50.1}, "lat", "finite"),
        ({"category": "pothole", "lat": 26.4, "lon": "Infinity"}, "lon", "finite"),
        ({"category": "pothole", "lat": 91, "lon": 50.1}, "lat", "between -90 and 90"),
        ({"category": "pothole", "lat": 26.4, "lon": -181}, "lon", "between -180 and 180"),
        (
            {"category": "pothole", "lat": OPEN_GULF[1], "lon": OPEN_GULF[0]},
            "location",
            "outside the service area",
        ),
        (
            {"category": "pothole", "location": {"type": "Point", "coordinates": [50.1]}},
            "location",
            "[longitude, latitude]",
        ),
        (
            {"category": "pothole", "location": {"type": "LineString", "coordinates": []}},
            "location",
            "GeoJSON Point",
        ),
        ({"category": "volcano", "lat": 26.44, "lon": 50.1}, "category", "Unknown category"),
        ({"category": "", "lat": 26.44, "lon": 50.1}, "category", ""),
        ({"lat": 26.44, "lon": 50.1}, "category", "required"),
        (
            {"category": "pothole", "lat": 26.44, "lon": 50.1, "description": "x" * 4001},
            "description",
            "At most 4000 characters",
        ),
        (
            {"category": "pothole", "lat": 26.44, "lon": 50.1, "channel": "pigeon"},
            "channel",
            "Unknown channel",
        ),
        (
            {"category": "pothole", "lat": 26.44, "lon": 50.1, "reporter": {"email": "not-mail"}},
            "reporter.email",
            "valid e-mail",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(client, body, field, reason):
    before = (Report.objects.count(), ReportEvent.objects.count(), ReporterContact.objects.count())
    response = post(client, body)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert reason in " ".join(map(str, errors[field]))
    after = (Report.objects.count(), ReportEvent.objects.count(), ReporterContact.objects.count())
    assert after == before


@pytest.mark.parametrize(
    "raw", ['{"category": "pothole", "lat": NaN, "lon": 50.1}', "{not json", "[]", '"text"']
)
def test_malformed_bodies_are_400_not_500(client, raw):
    before = Report.objects.count()
    assert post(client, raw, raw=True).status_code == 400
    assert Report.objects.count() == before


def test_description_of_exactly_4000_characters_is_accepted(client):
    response = post(client, valid_body(description="ب" * 4000))
    assert response.status_code == 201


def test_same_idempotency_key_gives_the_same_report(client):
    first = post(client, valid_body(idempotency_key="call-940-0001"))
    second = post(client, valid_body(idempotency_key="call-940-0001", description="again"))
    assert first.status_code == 201 and second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert Report.objects.filter(idempotency_key="call-940-0001").count() == 1
    assert (
        post(client, valid_body(idempotency_key="call-940-0002")).json()["id"]
        != (first.json()["id"])
    )


def test_list_is_geojson_with_filters(client):
    dammam = post(client, valid_body()).json()
    lon, lat = KHOBAR_CENTRE
    khobar = post(client, {"category": "street_light_out", "lat": lat, "lon": lon}).json()

    collection = client.get(REPORTS).json()
    assert collection["type"] == "FeatureCollection"
    ids = {f["id"] for f in collection["features"]}
    assert {dammam["id"], khobar["id"]} <= ids
    feature = next(f for f in collection["features"] if f["id"] == khobar["id"])
    assert feature["geometry"] == {"type": "Point", "coordinates": [lon, lat]}
    assert feature["properties"]["category"] == "lighting_billboards"
    assert feature["properties"]["subcategory"] == "street_light_out"

    def ids_for(query):
        response = client.get(REPORTS + query)
        assert response.status_code == 200, response.content
        return {f["id"] for f in response.json()["features"]}

    assert ids_for("?branch=khobar") == {khobar["id"]}
    assert ids_for("?category=lighting_billboards") == {khobar["id"]}
    assert ids_for("?category=pothole") == {dammam["id"]}
    assert ids_for("?category=roads_networks&status=new") == {dammam["id"]}
    assert ids_for("?status=closed") == set()
    assert ids_for(f"?in_bbox={lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}") == {
        khobar["id"]
    }
    assert {dammam["id"], khobar["id"]} <= ids_for("?created_after=2020-01-01")
    assert ids_for("?created_before=2020-01-01") == set()
    assert client.get(REPORTS + "?created_after=yesterday").status_code == 400
    assert client.get(REPORTS + "?status=sleeping").status_code == 400

    page = client.get(REPORTS + "?page_size=1").json()
    assert len(page["features"]) == 1 and page["count"] >= 2 and page["next"]


def test_anonymous_responses_never_carry_reporter_contact(client):
    created = post(client, valid_body())
    for response in (created, client.get(REPORTS), client.get(f"{REPORTS}{created.json()['id']}/")):
        assert response.status_code in (200, 201)
        text = response.content.decode()
        for secret in (SECRET_NAME, SECRET_PHONE, SECRET_EMAIL, "reporter"):
            assert secret not in text


def test_staff_with_permission_see_contact_and_others_do_not(client):
    report_id = post(client, valid_body()).json()["id"]
    user = User.objects.create_user("dispatcher", password="pw-123-xyz")
    client.force_login(user)
    assert SECRET_PHONE not in client.get(f"{REPORTS}{report_id}/").content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_reportercontact"))
    user = User.objects.get(pk=user.pk)  # drop the permission cache
    client.force_login(user)
    properties = client.get(f"{REPORTS}{report_id}/").json()["properties"]
    assert properties["reporter"] == {
        "name": SECRET_NAME,
        "phone": SECRET_PHONE,
        "email": SECRET_EMAIL,
    }


def test_branches_endpoint_returns_the_ten_boundaries(client):
    collection = client.get("/api/v1/branches/").json()
    assert collection["type"] == "FeatureCollection"
    by_code = {f["properties"]["code"]: f for f in collection["features"]}
    assert len(by_code) == 10
    assert by_code["dammam"]["properties"]["name_ar"] == "الدمام"
    assert by_code["khobar"]["geometry"]["type"] == "MultiPolygon"


def test_openapi_schema_describes_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/reports/" in schema["paths"] and "post" in schema["paths"]["/api/v1/reports/"]


def test_sensitive_category_is_coarsened_and_its_text_withheld_for_the_public(client):
    lon, lat = 50.10316, 26.44237
    body = valid_body(
        category="food_hygiene", location={"type": "Point", "coordinates": [lon, lat]}
    )
    body["description"] = "Al-Noor Bakery, back door"
    report_id = post(client, body).json()["id"]
    public = client.get(f"{REPORTS}{report_id}/").json()
    assert public["properties"]["description"] == ""
    assert "Al-Noor" not in client.get(REPORTS).content.decode()
    assert public["geometry"]["coordinates"] != pytest.approx([lon, lat], abs=1e-6)

    staff = User.objects.create_user("inspector", password="pw-123-xyz")
    staff.user_permissions.add(Permission.objects.get(codename="view_reportercontact"))
    client.force_login(User.objects.get(pk=staff.pk))
    exact = client.get(f"{REPORTS}{report_id}/").json()
    assert exact["properties"]["description"] == "Al-Noor Bakery, back door"
    assert exact["geometry"]["coordinates"] == pytest.approx([lon, lat])
