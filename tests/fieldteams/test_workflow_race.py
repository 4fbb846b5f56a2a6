"""Two crew moves at the same moment: the second waits for the first and then sees the report
as the first left it (committed transactions on two connections, real row locks)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from fieldteams.models import Assignment, AssignmentState
from fieldteams.services import assignment_transition
from geo_ops.reports.models import Report, ReportEvent, Status

from .conftest import DAMMAM, offset, place

S = AssignmentState


@pytest.fixture
def accepted_job(reference_data, make_crew, make_member):
    crew = make_crew("roads-race", depot=offset(DAMMAM, metres=1000, azimuth=0))
    member = make_member("crew-race", crew)
    report = place("pothole", DAMMAM)
    job = Assignment.objects.get(report=report)
    assignment_transition(assignment=job, to_state=S.ACCEPTED, actor=member, actor_label="a")
    job.refresh_from_db()
    job.member = member
    return job


def _first_move_holding_its_locks(job, *, locked: threading.Event, release: threading.Event):
    """Another member's move, on its own connection: en route, committed only on `release`."""
    try:
        with transaction.atomic():
            # As a move does: the report and the job locked, both changed, then the commit.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM reports_report WHERE id = %s FOR UPDATE", [job.report_id]
                )
            assignment_transition(
                assignment=job, to_state=S.EN_ROUTE, actor=job.member, actor_label="first"
            )
            locked.set()
            release.wait(10)
    finally:
        connections.close_all()


def _second_move(job, outcome: dict):
    try:
        result = assignment_transition(
            assignment=job, to_state=S.IN_PROGRESS, actor=job.member, actor_label="second"
        )
        outcome["state"] = result.assignment.state
    except Exception as error:  # noqa: BLE001  (the test reports what the move raised)
        outcome["error"] = error
    finally:
        connections.close_all()


def test_a_move_waiting_on_another_sees_the_report_it_left(accepted_job):
    locked, release, outcome = threading.Event(), threading.Event(), {}
    first = threading.Thread(
        target=_first_move_holding_its_locks,
        kwargs={"job": accepted_job, "locked": locked, "release": release},
    )
    first.start()
    assert locked.wait(10)
    second = threading.Thread(target=_second_move, args=(accepted_job, outcome))
    second.start()
    time.sleep(0.5)  # the second move is now waiting on the first one's locks
    assert second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    assert outcome == {"state": S.IN_PROGRESS}, outcome
    assert Report.objects.get(pk=accepted_job.report_id).status == Status.IN_PROGRESS
    # One public status change for the report (assigned -> in progress), not two.
    changes = ReportEvent.objects.filter(
        report_id=accepted_job.report_id, to_status=Status.IN_PROGRESS
    )
    assert changes.count() == 1
