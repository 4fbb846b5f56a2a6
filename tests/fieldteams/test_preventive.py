"""Preventive work: a hotspot becomes a recurring job for the responsible crew, through
fieldteams' dispatch service."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from fieldteams.calendar import working_calendar_forget
from fieldteams.models import Assignment, Crew, Department, PreventiveWork
from fieldteams.preventive import preventive_work_due
from geo_ops.hotspots.clusters import hotspot_clusters_compute
from geo_ops.hotspots.filters import filters_from_params
from geo_ops.reports.models import Category, Report, Status
from layers.models import BranchMunicipality
from tests.conftest import DAMMAM_CORNICHE
from tests.hotspots.hotspot_data import make_planner
from tests.hotspots.test_analysis import METRE, put


@pytest.fixture
def crew(db):
    call_command("loaddata", "business_calendar", verbosity=0)
    working_calendar_forget()
    department, _ = Department.objects.get_or_create(
        code="cleaning", defaults={"name_en": "Cleaning", "name_ar": "النظافة"}
    )
    crew = Crew.objects.create(
        code="dammam-clean-1",
        name_en="Dammam cleaning 1",
        name_ar="نظافة الدمام 1",
        department=department,
        depot=Point(*DAMMAM_CORNICHE, srid=4326),
        capacity_per_shift=10,
    )
    crew.skills.set(Category.objects.filter(code="public_cleanliness"))
    crew.branches.set(BranchMunicipality.objects.filter(code="dammam"))
    yield crew
    working_calendar_forget()


def test_a_hotspot_becomes_recurring_work_for_its_crew(crew, settings):
    settings.GEO_OPS_HOTSPOT_DBSCAN = {"default": {"eps_m": 60, "min_points": 4, "min_share": 0}}
    lon, lat = DAMMAM_CORNICHE
    for i in range(8):
        put("litter", lon + i * 10 * METRE, lat, day=i * 40)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE reports_report r SET branch_id = p.branch_id
               FROM layers_branchmunicipalitypiece p WHERE ST_Intersects(p.geom, r.location)"""
        )
    run = hotspot_clusters_compute(filters=filters_from_params({"from": "2025-01-01"}))
    cluster = run.clusters.get()

    client = Client()
    client.force_login(make_planner())
    url = f"/api/v1/hotspots/clusters/{cluster.pk}/preventive-work/"
    assert client.post(url, {"interval_days": "0"}).status_code == 400
    answer = client.post(url, {"interval_days": 14}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["crew"] == "dammam-clean-1" and body["interval_days"] == 14
    job = Report.objects.get(tracking_number=body["tracking_number"])
    assert job.channel == "staff" and job.status == Status.ASSIGNED
    assert job.subcategory.code == "litter" and job.branch.code == "dammam"
    assert job.location.distance(cluster.centroid) < 1e-9
    assert Assignment.objects.get(report=job).crew == crew
    work = PreventiveWork.objects.get()
    assert work.jobs_created == 1 and work.last_report == job

    # Not due yet, then due but the last visit still open: no new job; once it is done, one.
    assert preventive_work_due() == 0
    later = timezone.now() + timedelta(days=15)
    assert preventive_work_due(now=later) == 0
    Report.objects.filter(pk=job.pk).update(status=Status.CLOSED, closed_at=later)
    assert preventive_work_due(now=later) == 1
    work.refresh_from_db()
    assert work.jobs_created == 2 and work.last_report != job
    assert work.next_due_at == later + timedelta(days=14)
    # The occurrence is received when the run says, not on the wall clock (a catch-up run).
    assert work.last_report.created_at == later
