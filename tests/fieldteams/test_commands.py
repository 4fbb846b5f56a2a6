"""Logins for crews and supervisors from the command line, and the Celery app's settings."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from fieldteams.models import CrewMember, Supervisor

pytestmark = pytest.mark.django_db


def printed(out: StringIO) -> dict:
    return dict(line.split(": ", 1) for line in out.getvalue().splitlines() if ": " in line)


def test_create_crew_member_prints_a_password_and_a_token_that_work(make_crew):
    make_crew("roads-1")
    out = StringIO()
    call_command("create_crew_member", "ali", crew="roads-1", stdout=out)
    secrets = printed(out)
    assert CrewMember.objects.get(user__username="ali").crew.code == "roads-1"
    client = Client(HTTP_HOST="127.0.0.1")
    assert client.login(username="ali", password=secrets["password"])
    response = Client(HTTP_HOST="127.0.0.1").get(
        "/api/v1/crew/jobs/", HTTP_AUTHORIZATION=f"Token {secrets['token']}"
    )
    assert response.status_code == 200 and response.json()["crew"]["code"] == "roads-1"
    with pytest.raises(CommandError):
        call_command("create_crew_member", "badr", crew="nope", stdout=StringIO())


def test_create_supervisor(department):
    out = StringIO()
    call_command(
        "create_supervisor", "boss", department=department.code, branch=["dammam"], stdout=out
    )
    supervisor = Supervisor.objects.get(user__username="boss")
    assert supervisor.department == department
    assert [b.code for b in supervisor.branches.all()] == ["dammam"]
    with pytest.raises(CommandError):
        call_command("create_supervisor", "nobody", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("create_supervisor", "x", branch=["atlantis"], stdout=StringIO())


def test_celery_reads_its_settings_and_schedules_the_periodic_tasks():
    from geo_ops.celery import app

    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"fieldteams.tasks.escalate_overdue", "fieldteams.tasks.dispatch_backlog"} <= tasks
    app.loader.import_default_modules()
    assert "fieldteams.tasks.escalate_overdue" in app.tasks
