"""Data of the hotspot and planner tests: the demo year, scaled down, and a planner user."""

import json
from pathlib import Path

from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command

# A quarter of the demo year (4,385 reports): every planted hotspot keeps at least 5 reports.
DEMO_SCALE = 0.25


def load_demo_year(tmp_dir: Path) -> dict:
    """Generate and load the scaled demo year; returns the planted truth."""
    truth = tmp_dir / "truth.json"
    call_command(
        "generate_demo_data", year=2025, seed=42, scale=DEMO_SCALE, truth_out=truth, verbosity=0
    )
    return json.loads(truth.read_text())


def make_planner(username: str = "planner") -> User:
    """A member of the `planner` group (re-created when a transactional test flushed it)."""
    group, _ = Group.objects.get_or_create(name="planner")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="hotspots", codename="use_planner")
    )
    user = User.objects.create_user(username=username, password="planner-pass-1")
    user.groups.add(group)
    return user
