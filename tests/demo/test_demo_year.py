"""The demo year reproduces the 940 annual report, and the statistics read it back from SQL."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from geo_ops.demo.year import CATEGORY_COUNTS, demo_year_generate
from geo_ops.reports.models import Report

pytestmark = pytest.mark.django_db

PRESS_RELEASE_CLOSURE = {
    "markets_public_health": 0.90,
    "environmental_sanitation": 0.95,
    "public_cleanliness": 0.85,
}
SMART_CHANNELS = {"app", "web", "social"}


@pytest.fixture
def demo_year(tmp_path):
    truth_path = tmp_path / "truth.json"
    out = io.StringIO()
    call_command(
        "generate_demo_data",
        "--year",
        "2025",
        "--seed",
        "42",
        "--truth-out",
        str(truth_path),
        stdout=out,
    )
    return json.loads(truth_path.read_text()), out.getvalue()


def test_demo_year_figures_equal_the_press_release(demo_year):
    truth, printed = demo_year
    stats = Client(HTTP_HOST="127.0.0.1").get("/api/v1/stats/annual/?year=2025").json()

    assert stats["received"] == 17_534 == Report.objects.count()
    by_category = {row["code"]: row for row in stats["by_category"]}
    assert {code: row["received"] for code, row in by_category.items()} == CATEGORY_COUNTS
    for code, rate in PRESS_RELEASE_CLOSURE.items():
        assert round(by_category[code]["closure_rate"], 2) == rate
    assert stats["closed"] > 13_000
    assert round(stats["processed"] / stats["received"], 2) == 0.95
    smart = sum(row["received"] for row in stats["by_channel"] if row["channel"] in SMART_CHANNELS)
    assert smart > 7_000
    assert (
        smart + next(r["received"] for r in stats["by_channel"] if r["channel"] == "hotline_940")
        == 17_534
    )

    # Every report lies inside a branch; the big cities get the most.
    assert not Report.objects.filter(branch__isnull=True).exists()
    by_branch = {row["code"]: row["received"] for row in stats["by_branch"]}
    assert sum(by_branch.values()) == 17_534
    assert max(by_branch, key=by_branch.get) == "dammam"
    assert by_branch["khobar"] > by_branch["khafji"] > 0

    # Resolution times follow each category's SLA: most closed within it, not all.
    for row in stats["by_category"]:
        assert 0.6 < row["sla_met_rate"] < 0.95
        assert row["median_resolution_hours"] > 0

    # The truth file agrees with what the statistics computed from the database.
    expected = truth["expected"]
    assert (expected["received"], expected["closed"], expected["processed"]) == (
        stats["received"],
        stats["closed"],
        stats["processed"],
    )
    assert len(truth["hotspots"]) == 3 * len(CATEGORY_COUNTS)
    assert all(h["radius_m"] >= 100 and h["count"] >= 5 for h in truth["hotspots"])

    # The same JSON from the command, and the other formats carry the same figures.
    out = io.StringIO()
    call_command("annual_report", "--year", "2025", "--format", "json", stdout=out)
    assert json.loads(out.getvalue()) == stats
    out = io.StringIO()
    call_command("annual_report", "--year", "2025", "--format", "csv", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["dimension"] == "all" and int(rows[0]["received"]) == 17_534
    out = io.StringIO()
    call_command("annual_report", "--year", "2025", "--format", "md", stdout=out)
    assert "النظافة العامة" in out.getvalue() and "| 4,367 |" in out.getvalue()

    # Re-running adds nothing.
    call_command("generate_demo_data", "--year", "2025", "--seed", "42", stdout=io.StringIO())
    assert Report.objects.count() == 17_534


def test_generation_is_deterministic_per_seed():
    first = demo_year_generate(year=2025, seed=7, scale=0.1)
    again = demo_year_generate(year=2025, seed=7, scale=0.1)
    other = demo_year_generate(year=2025, seed=8, scale=0.1)
    assert first.rows == again.rows
    assert first.rows != other.rows
    assert len(first.rows) == sum(round(n * 0.1) for n in CATEGORY_COUNTS.values())


def test_statistics_reject_a_bad_year():
    client = Client(HTTP_HOST="127.0.0.1")
    assert client.get("/api/v1/stats/annual/").status_code == 400
    assert client.get("/api/v1/stats/annual/?year=soon").status_code == 400
