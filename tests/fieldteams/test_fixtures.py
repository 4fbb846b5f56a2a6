"""The demo field organisation: every branch municipality has a crew for every category, each
depot lies inside its crew's area, and the loader refuses what is wrong without writing."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fieldteams.models import Crew, CrewShift, Department
from fieldteams.services import crews_load
from geo_ops.reports.models import Category
from layers.models import BranchMunicipality

pytestmark = pytest.mark.django_db
CREWS = Path(__file__).resolve().parents[2] / "fieldteams" / "fixtures" / "demo_crews.json"


@pytest.fixture
def demo(business_calendar):
    call_command("loaddata", "departments", verbosity=0)
    call_command("load_crews", str(CREWS), commit=True, stdout=StringIO())


def test_every_branch_has_a_crew_for_every_category(demo):
    assert Crew.objects.count() == 33 and Department.objects.count() == 7
    for branch in BranchMunicipality.objects.all():
        for category in Category.objects.filter(parent__isnull=True):
            assert Crew.objects.filter(active=True, branches=branch, skills=category).exists(), (
                branch.code,
                category.code,
            )


def test_every_depot_is_inside_one_of_its_branches(demo):
    for crew in Crew.objects.prefetch_related("branches"):
        assert any(b.geom.contains(crew.depot) for b in crew.branches.all()), crew.code


def test_shifts_are_weekly_and_night_shifts_cross_midnight(demo):
    night = CrewShift.objects.filter(crew__code="dmm-clean-2")
    assert night.count() == 6 and {s.weekday for s in night} == {5, 6, 0, 1, 2, 3}
    assert all(s.ends < s.starts for s in night)


def test_loading_twice_updates_in_place(demo):
    out = StringIO()
    call_command("load_crews", str(CREWS), commit=True, stdout=out)
    assert "created: 0, updated: 33" in out.getvalue()
    assert Crew.objects.count() == 33


def test_a_depot_outside_the_area_is_refused_and_nothing_written(business_calendar):
    call_command("loaddata", "departments", verbosity=0)
    items = json.loads(CREWS.read_text())["crews"][:2]
    items[1] = {**items[1], "depot": [50.75, 26.6]}  # in the Gulf
    items.append({**items[0], "code": "bad", "skills": ["volcanoes"], "branches": ["atlantis"]})
    summary = crews_load(items=items, commit=True)
    assert "bad: unknown category 'volcanoes'" in summary.errors
    assert "bad: unknown branch municipality 'atlantis'" in summary.errors
    summary = crews_load(items=items[:2], commit=True)
    assert summary.errors == [
        "dmm-clean-2: depot [50.75, 26.6] is outside its branch municipalities"
    ]
    assert not Crew.objects.exists()


def test_dry_run_writes_nothing(business_calendar):
    call_command("loaddata", "departments", verbosity=0)
    out = StringIO()
    call_command("load_crews", str(CREWS), stdout=out)
    assert "would be created: 33" in out.getvalue() and not Crew.objects.exists()
    with pytest.raises(CommandError):
        call_command("load_crews", "/nonexistent.json")
