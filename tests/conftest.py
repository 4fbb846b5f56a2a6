"""Shared fixtures. The test database is real PostGIS; the reference data (the category fixture
and the ten real Eastern Province branch municipalities) is loaded once per test database and
every test runs in a transaction that is rolled back."""

from pathlib import Path

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command

from layers.models import BranchMunicipality
from layers.services import boundaries_import, boundary_pieces_refresh

REPO = Path(__file__).resolve().parent.parent
BRANCHES_FIXTURE = REPO / "fixtures" / "boundaries" / "eastern_province_branches.geojson"
CATEGORIES_FIXTURE = REPO / "fixtures" / "categories.json"

# Points well inside real branch municipalities (lon, lat).
DAMMAM_CORNICHE = (50.1030, 26.4420)
KHOBAR_CENTRE = (50.2083, 26.2794)
# In the Arabian Gulf, between Bahrain and the coast: outside every branch.
OPEN_GULF = (50.75, 26.6)


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
