"""The report workflow: its transition table, the one writer of status and events, and the
domain event it sends once a change is committed."""

import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.test.utils import override_settings

from geo_ops.reports.models import EventKind, Report, ReportEvent, Status
from geo_ops.reports.services import report_create
from geo_ops.reports.signals import StatusChange, report_status_changed
from geo_ops.reports.workflow import (
    TRANSITIONS,
    Change,
    Event,
    Role,
    WorkflowError,
    report_status_change,
    reports_status_change,
    transition_rule,
)
from tests.conftest import DAMMAM_CORNICHE

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """The domain events received, as (changes) lists."""
    received = []

    def receiver(sender, *, changes, **kwargs):
        received.append(changes)

    report_status_changed.connect(receiver, dispatch_uid="test-heard")
    yield received
    report_status_changed.disconnect(dispatch_uid="test-heard")


@pytest.fixture
def new_report():
    """A new report, not dispatched (so it stays new)."""
    with override_settings(GEO_OPS_DISPATCH_ON_INTAKE=False):
        report, _created = report_create(
            category_code="pothole",
            location=Point(*DAMMAM_CORNICHE, srid=4326),
            channel="app",
            actor_label="test",
        )
    return report


def test_every_status_has_a_way_in_and_the_open_ones_a_way_out():
    targets = {to for _frm, to in TRANSITIONS}
    sources = {frm for frm, _to in TRANSITIONS}
    assert targets == set(Status.values)
    assert {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED} <= sources


def test_the_table_refuses_what_it_does_not_list_and_who_may_not():
    with pytest.raises(WorkflowError) as illegal:
        transition_rule(from_status=Status.CLOSED, to_status=Status.ASSIGNED, role=Role.DISPATCH)
    assert illegal.value.code == "illegal_transition"
    with pytest.raises(WorkflowError) as role:
        transition_rule(from_status=Status.RESOLVED, to_status=Status.CLOSED, role=Role.CREW)
    assert role.value.code == "transition_not_allowed"
    assert (
        transition_rule(from_status=Status.ASSIGNED, to_status=Status.NEW, role=Role.CREW).public
        is False
    )


def test_a_change_writes_status_times_and_its_event_then_announces_it_on_commit(
    new_report, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report_status_change(
            report=new_report,
            to_status=Status.REJECTED,
            role=Role.SUPERVISOR,
            actor_label="supervisor:test",
            note="Closed without field work",
            before=[Event(kind=EventKind.NOTE, actor_label="supervisor:test", note="why")],
        )
        assert heard == []  # nothing is sent before the commit
    assert len(callbacks) == 1
    stored = Report.objects.get(pk=new_report.pk)
    assert stored.status == Status.REJECTED and stored.closed_at is not None
    events = list(ReportEvent.objects.filter(report=new_report).order_by("id"))
    assert [(e.kind, e.from_status, e.to_status, e.public) for e in events[-2:]] == [
        (EventKind.NOTE, "", "", False),
        (EventKind.STATUS_CHANGED, Status.NEW, Status.REJECTED, True),
    ]
    assert heard[-1] == [
        StatusChange(
            report_id=new_report.pk,
            from_status=Status.NEW,
            to_status=Status.REJECTED,
            actor_label="supervisor:test",
            public=True,
        )
    ]


def test_a_refused_change_writes_nothing(new_report, heard):
    before = ReportEvent.objects.filter(report=new_report).count()
    with pytest.raises(WorkflowError):
        report_status_change(
            report=new_report, to_status=Status.CLOSED, role=Role.SUPERVISOR, actor_label="x"
        )
    assert Report.objects.get(pk=new_report.pk).status == Status.NEW
    assert ReportEvent.objects.filter(report=new_report).count() == before


def test_a_report_changed_meanwhile_is_a_conflict_and_nothing_is_written(new_report):
    # Another writer moved it on since this copy was read: the status guard notices.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_report SET status = 'assigned' WHERE id = %s", [new_report.pk]
        )
    before = ReportEvent.objects.filter(report=new_report).count()
    with pytest.raises(WorkflowError) as conflict, transaction.atomic():
        report_status_change(
            report=new_report, to_status=Status.REJECTED, role=Role.SUPERVISOR, actor_label="x"
        )
    assert conflict.value.code == "conflict"
    assert ReportEvent.objects.filter(report=new_report).count() == before


def test_the_set_based_twin_moves_many_in_one_statement_with_one_announcement(
    heard, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with override_settings(GEO_OPS_DISPATCH_ON_INTAKE=False):
        reports = [
            report_create(
                category_code="street_light_out",
                location=Point(DAMMAM_CORNICHE[0] + n * 0.01, DAMMAM_CORNICHE[1], srid=4326),
                channel="web",
                actor_label="test",
            )[0]
            for n in range(3)
        ]
    heard.clear()
    changes = [
        Change(report_id=r.pk, from_status=Status.NEW, to_status=Status.REJECTED, note="n")
        for r in reports[:2]
    ]
    # One statement, and no savepoint inside the caller's transaction.
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        reports_status_change(
            changes=changes,
            role=Role.SUPERVISOR,
            actor_label="bulk",
            due={reports[2].pk: reports[2].created_at},
        )
    statuses = dict(
        Report.objects.filter(pk__in=[r.pk for r in reports]).values_list("id", "status")
    )
    assert [statuses[r.pk] for r in reports] == [Status.REJECTED, Status.REJECTED, Status.NEW]
    assert Report.objects.get(pk=reports[2].pk).due_at == reports[2].created_at
    assert [[c.report_id for c in changes] for changes in heard] == [[r.pk for r in reports[:2]]]
