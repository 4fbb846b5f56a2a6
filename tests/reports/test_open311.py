"""Open311 GeoReport v2: every endpoint in JSON and XML, POST validation, filters, privacy."""

import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from fieldteams.calendar import working_calendar
from geo_ops.reports.models import (
    ApiKey,
    Category,
    EventKind,
    PublicVisibility,
    Report,
    ReporterContact,
    ReportEvent,
    Status,
)
from geo_ops.reports.open311 import params
from geo_ops.reports.open311.selectors import api_key_hash
from geo_ops.reports.open311.services import api_key_create
from geo_ops.reports.privacy import public_location_expression
from geo_ops.reports.services import Reporter, report_create
from tests.conftest import DAMMAM_CORNICHE, KHOBAR_CENTRE, OPEN_GULF

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"
FORM = "application/x-www-form-urlencoded"
CONTACT = {
    "first_name": "Fatimah",
    "last_name": "Alqahtani-Zzyzx",
    "email": "fatimah.private@example.org",
    "phone": "+966500001234",
}


@pytest.fixture
def api_key() -> str:
    _api_key, raw_key = api_key_create(name="balaghati-test")
    return raw_key


def post_form(client, data: dict, fmt: str = "json", **extra):
    return client.post(f"{BASE}/requests.{fmt}", data=urlencode(data), content_type=FORM, **extra)


def valid_form(api_key: str, /, **overrides) -> dict:
    form = {
        "api_key": api_key,
        "service_code": "pothole",
        "lat": str(DAMMAM_CORNICHE[1]),
        "long": str(DAMMAM_CORNICHE[0]),
        "description": "Deep pothole in the right lane",
        "address_string": "King Abdullah Road",
        "media_url": "https://media.example.org/p/1.jpg",
        **CONTACT,
        "device_id": "device-1",
        "account_id": "acct-42",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def make_report(
    *,
    code: str = "pothole",
    point: tuple[float, float] = DAMMAM_CORNICHE,
    status: str = Status.NEW,
    created_at: datetime | None = None,
    description: str = "",
    reporter: Reporter | None = None,
) -> Report:
    report, _ = report_create(
        category_code=code,
        location=Point(*point, srid=4326),
        channel="web",
        description=description,
        reporter=reporter,
        actor_label="test",
    )
    changes = {"status": status}
    if created_at:
        changes.update(created_at=created_at, updated_at=created_at)
    Report.objects.filter(pk=report.pk).update(**changes)
    report.refresh_from_db()
    return report


def xml_root(response) -> ET.Element:
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)


def xml_requests(response) -> list[dict]:
    root = xml_root(response)
    assert root.tag == "service_requests"
    return [{child.tag: child.text or "" for child in item} for item in root.findall("request")]


def json_error(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["code"] == status
    return body[0]["description"]


def xml_error(response, status: int) -> str:
    assert response.status_code == status, response.content
    root = xml_root(response)
    assert root.tag == "errors"
    (error,) = root.findall("error")
    assert error.findtext("code") == str(status)
    return error.findtext("description")


# --- discovery and services ------------------------------------------------------------------


def test_discovery_json_lists_the_endpoint(client):
    response = client.get(f"{BASE}/discovery.json")
    assert response.status_code == 200
    body = response.json()
    assert body["contact"] and body["key_service"] and body["changeset"]
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["formats"] == ["application/json", "text/xml"]
    # The advertised URL really is the base the other endpoints hang off.
    services_url = endpoint["url"].removeprefix("http://testserver") + "/services.json"
    assert client.get(services_url).status_code == 200


def test_discovery_xml(client):
    root = xml_root(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    endpoint = root.find("endpoints/endpoint")
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.findall("formats/format")] == [
        "application/json",
        "text/xml",
    ]


def test_services_are_the_active_subcategories_grouped_by_category(client):
    response = client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    services = response.json()
    subcategories = Category.objects.filter(parent__isnull=False, active=True)
    assert sorted(s["service_code"] for s in services) == sorted(c.code for c in subcategories)
    assert len(services) == 30
    pothole = next(s for s in services if s["service_code"] == "pothole")
    assert pothole == {
        "service_code": "pothole",
        "service_name": Category.objects.get(code="pothole").name_en,
        "description": Category.objects.get(code="pothole").name_en,
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": Category.objects.get(code="roads_networks").name_en,
    }
    assert "roads_networks" not in {s["service_code"] for s in services}


def test_inactive_subcategory_is_not_a_service(client):
    Category.objects.filter(code="pothole").update(active=False)
    codes = {s["service_code"] for s in client.get(f"{BASE}/services.json").json()}
    assert "pothole" not in codes
    assert client.get(f"{BASE}/services/pothole.json").status_code == 404


def test_services_xml(client):
    root = xml_root(client.get(f"{BASE}/services.xml?jurisdiction_id=ignored"))
    assert root.tag == "services"
    services = root.findall("service")
    assert len(services) == 30
    rodents = next(s for s in services if s.findtext("service_code") == "rodents")
    assert rodents.findtext("metadata") == "false"
    assert (
        rodents.findtext("group") == Category.objects.get(code="environmental_sanitation").name_en
    )


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?locale=ar", {}), ("", {"HTTP_ACCEPT_LANGUAGE": "ar"}), ("?locale=ar-SA", {})],
)
def test_services_in_arabic(client, query, headers):
    services = client.get(f"{BASE}/services.json{query}", **headers).json()
    pothole = next(s for s in services if s["service_code"] == "pothole")
    assert pothole["service_name"] == Category.objects.get(code="pothole").name_ar
    assert pothole["group"] == Category.objects.get(code="roads_networks").name_ar
    root = xml_root(client.get(f"{BASE}/services.xml{query}", **headers))
    names = {s.findtext("service_code"): s.findtext("service_name") for s in root}
    assert names["pothole"] == Category.objects.get(code="pothole").name_ar


def test_service_definition(client):
    response = client.get(f"{BASE}/services/street_light_out.json")
    assert response.status_code == 200
    assert response.json() == {"service_code": "street_light_out", "attributes": []}
    root = xml_root(client.get(f"{BASE}/services/street_light_out.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "street_light_out"
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0


@pytest.mark.parametrize("code", ["no_such_service", "roads_networks"])
def test_unknown_service_definition_is_404(client, code):
    assert code in json_error(client.get(f"{BASE}/services/{code}.json"), 404)
    assert code in xml_error(client.get(f"{BASE}/services/{code}.xml"), 404)


@pytest.mark.parametrize(
    "path", ["services.csv", "services", "requests/EP1.html", "nonsense.json", ""]
)
def test_unknown_format_or_endpoint_is_404(client, path):
    json_error(client.get(f"{BASE}/{path}"), 404)


def test_wrong_method_is_405_in_open311_format(client):
    response = client.put(f"{BASE}/services.json")
    json_error(response, 405)
    assert response["Allow"] == "GET, HEAD"


# --- POST requests ---------------------------------------------------------------------------


def test_post_creates_the_report_and_it_reads_back_in_both_formats(client, api_key):
    response = post_form(client, valid_form(api_key))
    assert response.status_code == 200
    (created,) = response.json()
    report = Report.objects.select_related("branch", "subcategory").get()
    assert created == {
        "service_request_id": report.tracking_number,
        "token": report.tracking_number,
        "service_notice": "",
        "account_id": "acct-42",
    }
    assert report.tracking_number.startswith("EP")
    assert report.subcategory.code == "pothole" and report.category.code == "roads_networks"
    assert report.channel == "app"
    assert report.description == "Deep pothole in the right lane"
    assert report.address == "King Abdullah Road"
    assert report.media_url == "https://media.example.org/p/1.jpg"
    assert (report.location.x, report.location.y) == pytest.approx(DAMMAM_CORNICHE)
    contact = ReporterContact.objects.get(report=report)
    assert (contact.name, contact.phone, contact.email) == (
        "Fatimah Alqahtani-Zzyzx",
        CONTACT["phone"],
        CONTACT["email"],
    )
    event = ReportEvent.objects.get(report=report)
    assert event.actor_label == "open311:balaghati-test"

    (item,) = client.get(f"{BASE}/requests/{report.tracking_number}.json").json()
    assert item["service_request_id"] == report.tracking_number
    assert item["status"] == "open"
    assert item["status_notes"] == event.note
    assert item["service_code"] == "pothole"
    assert item["service_name"] == report.subcategory.name_en
    assert item["description"] == report.description
    assert item["agency_responsible"] == report.branch.name_en
    # W3C datetimes in local time (+03:00), to the second.
    assert item["requested_datetime"].endswith("+03:00")
    assert parse_datetime(item["requested_datetime"]) == report.created_at.replace(microsecond=0)
    assert parse_datetime(item["updated_datetime"]) == report.updated_at.replace(microsecond=0)
    assert parse_datetime(item["expected_datetime"]) == report.due_at.replace(microsecond=0)
    # The SLA runs in working time on the business calendar (fieldteams.calendar).
    assert report.due_at == working_calendar().add_working_hours(
        report.created_at, report.subcategory.sla_hours
    )
    assert item["address"] == "King Abdullah Road"
    assert (item["long"], item["lat"]) == pytest.approx(DAMMAM_CORNICHE)
    assert item["media_url"] == report.media_url

    (xml_item,) = xml_requests(client.get(f"{BASE}/requests/{report.tracking_number}.xml"))
    assert xml_item["service_request_id"] == report.tracking_number
    assert xml_item["status"] == "open"
    assert xml_item["agency_responsible"] == report.branch.name_en
    assert float(xml_item["lat"]) == pytest.approx(item["lat"])
    assert float(xml_item["long"]) == pytest.approx(item["long"])
    assert xml_item["expected_datetime"] == item["expected_datetime"]


def test_post_multipart_and_xml_response(client, api_key):
    response = client.post(f"{BASE}/requests.xml", data=valid_form(api_key, account_id=None))
    assert response.status_code == 200
    (created,) = xml_requests(response)
    report = Report.objects.get()
    assert created["service_request_id"] == created["token"] == report.tracking_number
    assert created["account_id"] == ""


def test_post_with_the_channel_extension(client, api_key):
    assert post_form(client, valid_form(api_key, channel="web")).status_code == 200
    assert Report.objects.get().channel == "web"


def test_post_idempotency_key_gives_the_same_request(client, api_key):
    form = valid_form(api_key, idempotency_key="client-req-7")
    first = post_form(client, form).json()[0]
    second = post_form(client, form).json()[0]
    assert first["service_request_id"] == second["service_request_id"]
    assert Report.objects.count() == 1


def test_token_lookup(client, api_key):
    (created,) = post_form(client, valid_form(api_key)).json()
    response = client.get(f"{BASE}/tokens/{created['token']}.json")
    assert response.status_code == 200
    assert response.json() == [
        {"service_request_id": created["service_request_id"], "token": created["token"]}
    ]
    assert xml_requests(client.get(f"{BASE}/tokens/{created['token']}.xml")) == [
        {"service_request_id": created["service_request_id"], "token": created["token"]}
    ]


def test_unknown_request_and_token_are_404(client):
    assert "EP99999999" in json_error(client.get(f"{BASE}/requests/EP99999999.json"), 404)
    xml_error(client.get(f"{BASE}/requests/EP99999999.xml"), 404)
    json_error(client.get(f"{BASE}/tokens/EP99999999.json"), 404)
    xml_error(client.get(f"{BASE}/tokens/EP99999999.xml"), 404)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"lat": None, "long": None, "address_string": None}, "lat/long: required"),
        ({"lat": None, "long": None}, "address_string"),
        ({"lat": "", "long": ""}, "lat/long: required"),
        ({"long": None}, "long: This field is required"),
        ({"lat": "north"}, "lat: Must be a number"),
        ({"long": "50,1"}, "long: Must be a number"),
        ({"lat": "NaN"}, "lat: Must be a finite number"),
        ({"long": "inf"}, "long: Must be a finite number"),
        ({"lat": "1e400"}, "lat: Must be a finite number"),
        ({"lat": "90.5"}, "lat: Must be between -90 and 90"),
        ({"long": "-181"}, "long: Must be between -180 and 180"),
        (
            {"lat": str(OPEN_GULF[1]), "long": str(OPEN_GULF[0])},
            "lat/long: The location is outside the service area",
        ),
        ({"service_code": "no_such_service"}, "service_code: unknown service 'no_such_service'"),
        ({"service_code": "roads_networks"}, "service_code: unknown service"),
        ({"service_code": None}, "service_code: required"),
        ({"description": "x" * 4001}, "description: At most 4000 characters (got 4001)"),
        ({"description": "bad\x00byte"}, "description: must not contain NUL"),
        ({"email": "not-an-email"}, "email:"),
        ({"first_name": "F" * 150, "last_name": "L" * 60}, "first_name/last_name:"),
        ({"phone": "9" * 41}, "phone:"),
        ({"address_string": "A" * 501}, "address_string:"),
        ({"media_url": "javascript:alert(1)"}, "media_url:"),
        ({"media_url": "https://example.org/" + "m" * 500}, "media_url: at most 500"),
        ({"channel": "fax"}, "channel:"),
        ({"idempotency_key": "k" * 101}, "idempotency_key:"),
    ],
)
def test_post_validation_errors_are_400_and_store_nothing(client, api_key, overrides, expected):
    before = (Report.objects.count(), ReporterContact.objects.count(), ReportEvent.objects.count())
    description = json_error(post_form(client, valid_form(api_key, **overrides)), 400)
    assert expected in description
    after = (Report.objects.count(), ReporterContact.objects.count(), ReportEvent.objects.count())
    assert after == before


def test_post_validation_error_in_xml(client, api_key):
    form = valid_form(api_key, lat=str(OPEN_GULF[1]), long=str(OPEN_GULF[0]))
    assert "outside the service area" in xml_error(post_form(client, form, fmt="xml"), 400)
    assert Report.objects.count() == 0


def test_post_a_description_of_exactly_4000_characters_is_accepted(client, api_key):
    assert post_form(client, valid_form(api_key, description="x" * 4000)).status_code == 200
    assert len(Report.objects.get().description) == 4000


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_post_without_a_valid_api_key_is_403(client, api_key, key):
    description = json_error(post_form(client, valid_form(api_key, api_key=key)), 403)
    assert "api_key" in description
    assert Report.objects.count() == 0


def test_post_with_a_revoked_api_key_is_403(client, api_key):
    ApiKey.objects.update(active=False)
    xml_error(post_form(client, valid_form(api_key), fmt="xml"), 403)
    assert Report.objects.count() == 0


def test_post_needs_a_form_body(client, api_key):
    response = client.post(
        f"{BASE}/requests.json",
        data=json.dumps(valid_form(api_key)),
        content_type="application/json",
    )
    assert "x-www-form-urlencoded" in json_error(response, 400)
    assert Report.objects.count() == 0


def test_post_body_over_the_size_limit_is_400(client, api_key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    json_error(post_form(client, valid_form(api_key, description="x" * 2000)), 400)
    assert Report.objects.count() == 0


def test_post_is_not_blocked_by_csrf(api_key):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert post_form(client, valid_form(api_key)).status_code == 200


# --- GET requests ----------------------------------------------------------------------------


def test_list_is_newest_first_and_paginated(client):
    now = timezone.now()
    reports = [make_report(created_at=now - timedelta(hours=i)) for i in range(5)]
    expected = [r.tracking_number for r in reports]

    body = client.get(f"{BASE}/requests.json").json()
    assert [item["service_request_id"] for item in body] == expected

    pages = [
        [i["service_request_id"] for i in client.get(f"{BASE}/requests.json?{q}").json()]
        for q in ("page_size=2", "page=2&page_size=2", "page=3&page_size=2", "page=4&page_size=2")
    ]
    assert pages == [expected[:2], expected[2:4], expected[4:], []]
    assert len(xml_requests(client.get(f"{BASE}/requests.xml?page_size=3"))) == 3


def test_list_default_page_size_is_50(client):
    for _ in range(51):
        make_report()
    assert len(client.get(f"{BASE}/requests.json").json()) == params.DEFAULT_PAGE_SIZE == 50
    assert len(client.get(f"{BASE}/requests.json?page=2").json()) == 1


def test_list_page_size_is_capped(client, monkeypatch):
    monkeypatch.setattr(params, "MAX_PAGE_SIZE", 3)
    for _ in range(4):
        make_report()
    assert len(client.get(f"{BASE}/requests.json?page_size=1000000").json()) == 3


def test_list_filters(client):
    now = timezone.now()
    old_pothole = make_report(code="pothole", created_at=now - timedelta(days=10))
    new_pothole = make_report(code="pothole", created_at=now - timedelta(days=1))
    rodents = make_report(code="rodents", created_at=now - timedelta(days=5), status=Status.CLOSED)

    def ids(query: str) -> set[str]:
        response = client.get(f"{BASE}/requests.json?{query}")
        assert response.status_code == 200, response.content
        return {item["service_request_id"] for item in response.json()}

    assert ids("service_code=pothole") == {old_pothole.tracking_number, new_pothole.tracking_number}
    assert ids("service_code=rodents,pothole") == {
        old_pothole.tracking_number,
        new_pothole.tracking_number,
        rodents.tracking_number,
    }
    assert ids(f"service_request_id={old_pothole.tracking_number},{rodents.tracking_number}") == {
        old_pothole.tracking_number,
        rodents.tracking_number,
    }
    start = (now - timedelta(days=6)).isoformat()
    end = (now - timedelta(days=2)).isoformat()
    assert ids(urlencode({"start_date": start})) == {
        rodents.tracking_number,
        new_pothole.tracking_number,
    }
    assert ids(urlencode({"end_date": end})) == {
        old_pothole.tracking_number,
        rodents.tracking_number,
    }
    assert ids(urlencode({"start_date": start, "end_date": end})) == {rodents.tracking_number}
    assert ids("status=closed") == {rodents.tracking_number}
    assert ids("status=open") == {old_pothole.tracking_number, new_pothole.tracking_number}
    assert len(ids("status=open,closed")) == 3
    assert ids("service_code=pothole&status=closed") == set()
    assert ids("service_code=nothing_like_it") == set()
    assert len(ids("jurisdiction_id=eastern_province")) == 3


def test_dates_accept_a_date_and_a_plus_offset_sent_unencoded(client):
    report = make_report(created_at=timezone.now() - timedelta(days=1))
    day = timezone.localdate() - timedelta(days=3)
    response = client.get(f"{BASE}/requests.json?start_date={day.isoformat()}")
    assert [i["service_request_id"] for i in response.json()] == [report.tracking_number]
    response = client.get(f"{BASE}/requests.json?end_date={day.isoformat()}%2008:00")
    assert response.status_code == 200 and response.json() == []
    # "+03:00" in a raw query string decodes to " 03:00".
    response = client.get(f"{BASE}/requests.json?start_date={day.isoformat()}T00:00:00+03:00")
    assert response.status_code == 200
    assert [i["service_request_id"] for i in response.json()] == [report.tracking_number]


@pytest.mark.parametrize(
    ("status", "open311_status"),
    [
        (Status.NEW, "open"),
        (Status.ASSIGNED, "open"),
        (Status.IN_PROGRESS, "open"),
        (Status.RESOLVED, "open"),
        (Status.CLOSED, "closed"),
        (Status.REJECTED, "closed"),
        (Status.DUPLICATE, "closed"),
    ],
)
def test_status_maps_to_open_or_closed(client, status, open311_status):
    report = make_report(status=status)
    (item,) = client.get(f"{BASE}/requests/{report.tracking_number}.json").json()
    assert item["status"] == open311_status
    filtered = client.get(f"{BASE}/requests.json?status={open311_status}").json()
    assert [i["service_request_id"] for i in filtered] == [report.tracking_number]


def test_status_notes_is_the_latest_public_note_in_one_query(client, django_assert_num_queries):
    reports = [make_report() for _ in range(4)]
    for report in reports:
        ReportEvent.objects.create(
            report=report, actor_label="dispatcher", kind=EventKind.NOTE, note=f"Crew {report.pk}"
        )
        ReportEvent.objects.create(
            report=report,
            actor_label="dispatcher",
            kind=EventKind.NOTE,
            note="internal: caller was rude",
            public=False,
        )
    with django_assert_num_queries(1):
        body = client.get(f"{BASE}/requests.json").json()
    notes = {item["service_request_id"]: item["status_notes"] for item in body}
    assert notes == {r.tracking_number: f"Crew {r.pk}" for r in reports}
    assert "internal" not in json.dumps(body)


def test_status_notes_empty_without_public_events(client):
    report = make_report()
    ReportEvent.objects.filter(report=report).delete()
    (item,) = client.get(f"{BASE}/requests/{report.tracking_number}.json").json()
    assert item["status_notes"] == ""
    (xml_item,) = xml_requests(client.get(f"{BASE}/requests/{report.tracking_number}.xml"))
    assert xml_item["status_notes"] == ""


def test_agency_and_service_name_in_arabic(client):
    report = make_report(point=KHOBAR_CENTRE)
    report = Report.objects.select_related("branch", "subcategory").get(pk=report.pk)
    (item,) = client.get(f"{BASE}/requests/{report.tracking_number}.json?locale=ar").json()
    assert item["agency_responsible"] == report.branch.name_ar != report.branch.name_en
    assert item["service_name"] == report.subcategory.name_ar


@pytest.mark.parametrize(
    "query",
    [
        "start_date=yesterday",
        "end_date=2024-13-45T00:00:00",
        "start_date=2024-02-30",
        "start_date=2024-05-02&end_date=2024-05-01",
        "page=abc",
        "page=0",
        "page=-1",
        "page_size=0",
        "page_size=1.5",
        "page=" + "9" * 30,
        "page=" + "9" * 5000,
        "status=pending",
        "service_code=pot%00hole",
    ],
)
def test_bad_list_parameters_are_400(client, query):
    json_error(client.get(f"{BASE}/requests.json?{query}"), 400)
    xml_error(client.get(f"{BASE}/requests.xml?{query}"), 400)


@pytest.mark.parametrize(
    "query",
    [
        "start_date=0001-01-01T00:00:00%2B14:00",
        "end_date=9999-12-31T23:59:59-14:00",
        "start_date=0001-01-01",
        "page=99999999999&page_size=1000",
    ],
)
def test_extreme_but_valid_list_parameters_work(client, query):
    make_report()
    assert client.get(f"{BASE}/requests.json?{query}").status_code == 200


def test_nul_in_a_path_is_400_not_500(client):
    json_error(client.get(f"{BASE}/requests/EP%00.json"), 400)
    json_error(client.get(f"{BASE}/services/pot%00hole.json"), 400)


# --- privacy and locations -------------------------------------------------------------------


def test_get_responses_never_carry_reporter_contact(client, api_key):
    (created,) = post_form(client, valid_form(api_key)).json()
    number = created["service_request_id"]
    responses = (
        [client.get(f"{BASE}/requests.{fmt}") for fmt in ("json", "xml")]
        + [client.get(f"{BASE}/requests/{number}.{fmt}") for fmt in ("json", "xml")]
        + [client.get(f"{BASE}/tokens/{number}.{fmt}") for fmt in ("json", "xml")]
    )
    for response in responses:
        assert response.status_code == 200
        text = response.content.decode()
        assert number in text
        for secret in (*CONTACT.values(), "Fatimah", "fatimah.private", "500001234"):
            assert secret not in text, (response.request["PATH_INFO"], secret)
    for key in ("first_name", "last_name", "email", "phone", "name"):
        assert key not in responses[0].json()[0]


def test_sensitive_category_locations_are_coarsened(client, api_key):
    lat, lon = 26.44237, 50.10316
    form = valid_form(api_key, service_code="food_hygiene", lat=str(lat), long=str(lon))
    (created,) = post_form(client, form).json()
    (item,) = client.get(f"{BASE}/requests/{created['service_request_id']}.json").json()
    # Snapped to the 100 m grid of the metric CRS, as on the public map and the REST API.
    coarse = Report.objects.annotate(p=public_location_expression()).get().p
    assert (item["lat"], item["long"]) == (coarse.y, coarse.x)
    assert (item["lat"], item["long"]) != pytest.approx((lat, lon), abs=1e-6)
    assert item["address"] == "" and item["description"] == ""
    # Stored exactly; only the public view is coarsened.
    stored = Report.objects.get().location
    assert (stored.y, stored.x) == pytest.approx((lat, lon))


def test_hidden_category_locations_are_not_published(client):
    Category.objects.filter(code="rodents").update(public_visibility=PublicVisibility.HIDDEN)
    report = make_report(code="rodents")
    (item,) = client.get(f"{BASE}/requests/{report.tracking_number}.json").json()
    assert item["lat"] is None and item["long"] is None and item["address"] == ""
    (xml_item,) = xml_requests(client.get(f"{BASE}/requests/{report.tracking_number}.xml"))
    assert xml_item["lat"] == "" and xml_item["long"] == ""


def test_xml_stays_well_formed_with_control_characters_and_markup(client):
    report = make_report(description="bell\x07 & <b>bold</b> \u0645\u0631\u062d\u0628\u0627")
    (xml_item,) = xml_requests(client.get(f"{BASE}/requests/{report.tracking_number}.xml"))
    assert xml_item["description"] == "bell & <b>bold</b> \u0645\u0631\u062d\u0628\u0627"
    (item,) = client.get(f"{BASE}/requests/{report.tracking_number}.json").json()
    assert item["description"] == report.description


# --- create_api_key --------------------------------------------------------------------------


def test_create_api_key_prints_a_working_key_once_and_stores_its_hash(client):
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("create_api_key", "partner-system", stdout=stdout, stderr=stderr)
    raw_key = stdout.getvalue().strip()
    assert len(raw_key) >= 40 and "\n" not in raw_key
    assert "partner-system" in stderr.getvalue()
    stored = ApiKey.objects.get(name="partner-system")
    assert stored.key_hash == api_key_hash(raw_key=raw_key) != raw_key
    assert stored.active
    assert not ApiKey.objects.filter(key_hash=raw_key).exists()
    assert post_form(client, valid_form(raw_key)).status_code == 200
    assert ReportEvent.objects.get().actor_label == "open311:partner-system"


@pytest.mark.parametrize("name", ["taken", "  taken  ", "", "n" * 101])
def test_create_api_key_refuses_a_taken_or_bad_name(name):
    api_key_create(name="taken")
    with pytest.raises(CommandError):
        call_command("create_api_key", name, stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiKey.objects.count() == 1
