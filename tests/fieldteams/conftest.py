"""Fixtures of the fieldteams tests: crews, members and supervisors made explicitly per test,
the business calendar fixture, reports placed through the intake service."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point
from django.core.management import call_command
from pyproj import Geod

from fieldteams.calendar import working_calendar_forget
from fieldteams.models import Crew, CrewMember, Department, Supervisor
from geo_ops.reports.models import Category, Report
from geo_ops.reports.services import Reporter, report_create
from layers.models import BranchMunicipality

RIYADH = ZoneInfo("Asia/Riyadh")
GEOD = Geod(ellps="WGS84")
# Points well inside Dammam (the corniche) and Khobar; see tests/conftest.py.
DAMMAM = (50.1030, 26.4420)
KHOBAR = (50.2083, 26.2794)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=RIYADH)


def offset(origin: tuple[float, float], *, metres: float, azimuth: float) -> tuple[float, float]:
    """The point `metres` from `origin` (lon, lat) along `azimuth` degrees, on the ellipsoid."""
    lon, lat, _back = GEOD.fwd(origin[0], origin[1], azimuth, metres)
    return lon, lat


@pytest.fixture(autouse=True)
def _fresh_calendar():
    """The calendar is cached per process; tests add holidays in rolled-back transactions."""
    working_calendar_forget()
    yield
    working_calendar_forget()


@pytest.fixture
def business_calendar(db):
    """The real calendar fixture: Sunday-Thursday 07:30-14:30 with the 2025-2026 holidays."""
    call_command("loaddata", "business_calendar", verbosity=0)
    working_calendar_forget()


@pytest.fixture
def department(db):
    department, _created = Department.objects.get_or_create(
        code="test-dept", defaults={"name_en": "Test department", "name_ar": "قسم"}
    )
    return department


@pytest.fixture
def make_crew(db, department):
    def make(
        code: str,
        *,
        skills=("roads_networks",),
        branches=("dammam",),
        depot=DAMMAM,
        capacity: int = 5,
        active: bool = True,
        dept: Department | None = None,
    ) -> Crew:
        crew = Crew.objects.create(
            code=code,
            name_en=code,
            name_ar=code,
            department=dept or department,
            depot=Point(*depot, srid=4326),
            capacity_per_shift=capacity,
            active=active,
        )
        crew.skills.set(Category.objects.filter(code__in=skills))
        crew.branches.set(BranchMunicipality.objects.filter(code__in=branches))
        return crew

    return make


@pytest.fixture
def make_user(db):
    def make(username: str, password: str = "pw-Crew-2026!"):
        return get_user_model().objects.create_user(username, password=password)

    return make


@pytest.fixture
def make_member(make_user):
    def make(username: str, crew: Crew):
        user = make_user(username)
        CrewMember.objects.create(user=user, crew=crew)
        return user

    return make


@pytest.fixture
def make_supervisor(make_user):
    def make(username: str, *, department=None, branches=()):
        user = make_user(username)
        supervisor = Supervisor.objects.create(user=user, department=department)
        supervisor.branches.set(BranchMunicipality.objects.filter(code__in=branches))
        return user

    return make


def place(
    category: str = "pothole",
    at: tuple[float, float] = DAMMAM,
    *,
    phone: str = "",
    description: str = "",
) -> Report:
    """A report through the intake service (join, duplicate check, SLA, dispatch)."""
    report, _created = report_create(
        category_code=category,
        location=Point(*at, srid=4326),
        channel="app",
        description=description or f"{category} at {at}",
        reporter=Reporter(name="Reporter Name", phone=phone, email="reporter@example.sa")
        if phone
        else None,
        actor_label="test",
    )
    return report


@pytest.fixture
def make_report(db):
    return place
