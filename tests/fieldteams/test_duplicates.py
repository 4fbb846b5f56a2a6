"""Duplicates at intake: same category, open, within the category's radius in metres (on the
ellipsoid, at Dammam's latitude) and time window; the original's count and priority grow."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from fieldteams.models import Assignment
from geo_ops.reports.models import Category, Priority, Report, ReportEvent, Status
from geo_ops.reports.services import DUPLICATE_SQL, _degrees_margin, crowd_priority

from .conftest import DAMMAM, offset, place

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("azimuth", [0, 90, 135, 270])
def test_radius_is_metres_49_m_is_a_duplicate_51_m_is_not(azimuth):
    assert Category.objects.get(code="pothole").duplicate_radius_m == 50
    original = place("pothole", DAMMAM)
    inside = place("pothole", offset(DAMMAM, metres=49, azimuth=azimuth))
    outside = place("pothole", offset(DAMMAM, metres=51, azimuth=azimuth))
    assert inside.status == Status.DUPLICATE and inside.duplicate_of == original
    assert outside.status != Status.DUPLICATE and outside.duplicate_of is None


def test_each_category_uses_its_own_radius():
    # Environmental sanitation: 100 m.
    original = place("mosquitoes", DAMMAM)
    assert place("mosquitoes", offset(DAMMAM, metres=95, azimuth=45)).duplicate_of == original
    assert place("mosquitoes", offset(DAMMAM, metres=105, azimuth=45)).duplicate_of is None


def test_other_problems_nearby_are_not_duplicates():
    original = place("pothole", DAMMAM)
    near = offset(DAMMAM, metres=10, azimuth=0)
    beside = offset(DAMMAM, metres=30, azimuth=180)
    assert place("damaged_sidewalk", beside).duplicate_of is None  # same category, other type
    assert place("street_light_out", near).duplicate_of is None  # other category
    # A report of the whole category (no type given) is the same problem.
    assert place("roads_networks", near).duplicate_of == original


def test_only_open_reports_within_the_time_window_are_originals():
    old = place("pothole", DAMMAM)
    Report.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(hours=24 * 8))
    assert place("pothole", DAMMAM).duplicate_of is None  # a week's window (168 h)
    Report.objects.update(status=Status.RESOLVED)
    assert place("pothole", DAMMAM).duplicate_of is None


def test_crowd_escalation_counts_reports_and_raises_priority(make_crew):
    make_crew("roads")
    original = place("pothole", DAMMAM)
    assert original.priority == Priority.NORMAL
    for _ in range(3):
        duplicate = place("pothole", offset(DAMMAM, metres=20, azimuth=10))
        assert duplicate.status == Status.DUPLICATE
    original.refresh_from_db()
    assert original.duplicate_count == 3
    assert original.priority == Priority.URGENT  # 4 reports: two doublings above normal
    assert Report.objects.filter(duplicate_of=original).count() == 3
    # No new job: the one crew has the original only.
    assert Assignment.objects.count() == 1 and Assignment.objects.get().report == original
    notes = list(
        ReportEvent.objects.filter(report=original, kind="reported_again").values_list(
            "note", flat=True
        )
    )
    assert len(notes) == 3 and "4 reports, priority 4" in notes[-1]


@pytest.mark.parametrize(
    ("base", "reports", "expected"),
    [(2, 1, 2), (2, 2, 3), (2, 3, 3), (2, 4, 4), (1, 8, 4), (1, 4, 3), (4, 2, 4)],
)
def test_crowd_priority_rule(base, reports, expected):
    assert crowd_priority(base=base, reports=reports) == expected


def test_api_response_names_the_original_to_follow():
    client = Client(HTTP_HOST="127.0.0.1")
    body = {"category": "pothole", "lat": DAMMAM[1], "lon": DAMMAM[0]}
    first = client.post("/api/v1/reports/", json.dumps(body), content_type="application/json")
    second = client.post("/api/v1/reports/", json.dumps(body), content_type="application/json")
    assert first.status_code == second.status_code == 201
    first, second = first.json(), second.json()
    assert first["duplicate_of"] is None
    assert first["follow_tracking_number"] == first["tracking_number"]
    assert second["status"] == "duplicate"
    assert second["duplicate_of"] == first["tracking_number"]
    assert second["follow_tracking_number"] == first["tracking_number"]
    assert second["tracking_number"] != first["tracking_number"]
    # Its track page and Open311 point the reporter at the original.
    page = client.get(f"/track/{second['tracking_number']}/").content.decode()
    assert f"Already reported as {first['tracking_number']}" in page
    (item,) = client.get(f"/open311/v2/requests/{second['tracking_number']}.json").json()
    assert item["status"] == "closed"
    assert (
        item["status_notes"]
        == f"Already reported as {first['tracking_number']}: follow that report."
    )


def test_the_duplicate_query_can_use_the_gist_index():
    """The geography ST_DWithin alone cannot use the geometry GiST index; the bbox prefilter
    (`&&` ST_Expand) can. With many open reports of the category spread over the city (so the
    category index is unselective, as in production) and sequential scans priced out, the plan
    must use the GiST index. The statistics are gathered here so the plan does not depend on
    what the test database happened to hold."""
    dx, dy = _degrees_margin(radius_m=50, lat=DAMMAM[1])
    # 55 m in degrees: of latitude, and of longitude at 26.4 degrees north (wider).
    assert 0.00045 < dy < 0.00055 and 0.0005 < dx < 0.0006 and dx > dy
    params = {
        "lon": DAMMAM[0],
        "lat": DAMMAM[1],
        "dx": dx,
        "dy": dy,
        "radius": 50,
        "category": Category.objects.get(code="roads_networks").pk,
        "subcategory": None,
        "open": ("new", "assigned", "in_progress"),
        "since": "2020-01-01",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reports_report (category_id, location, channel, status, priority,
                                        description, address, media_url, created_at, updated_at)
            SELECT %(category)s,
                   ST_SetSRID(ST_MakePoint(%(lon)s + (random() - 0.5) * 0.2,
                                           %(lat)s + (random() - 0.5) * 0.2), 4326),
                   'web', 'new', 2, '', '', '', now(), now()
            FROM generate_series(1, 3000)
            """,
            params,
        )
        cursor.execute("ANALYZE reports_report")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + DUPLICATE_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "reports_location_gist" in plan, plan
