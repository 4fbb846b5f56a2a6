"""The crew and supervisor API: GeoJSON jobs of the member's own crew only, transitions, token
and session auth, no reporter contact (except a callback phone where allowed), supervisors'
scope, and Open311 showing the progress."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from fieldteams.models import Assignment, AssignmentState, Department
from geo_ops.reports.models import Category, Report, Status
from tests.maps.conftest import jpeg_with_gps

from .conftest import DAMMAM, KHOBAR, offset, place

pytestmark = pytest.mark.django_db
JOBS = "/api/v1/crew/jobs/"
SECRET_NAME, SECRET_EMAIL, PHONE = "Reporter Name", "reporter@example.sa", "+966500000001"


@pytest.fixture
def teams(make_crew, make_member):
    """Two Dammam road crews and a Khobar one, a member each, and a job for each crew."""
    north = make_crew("dmm-north", depot=offset(DAMMAM, metres=500, azimuth=0))
    south = make_crew("dmm-south", depot=offset(DAMMAM, metres=8000, azimuth=180))
    khobar = make_crew("khb", branches=["khobar"], depot=KHOBAR)
    members = {
        "north": make_member("ali", north),
        "south": make_member("badr", south),
        "khobar": make_member("saad", khobar),
    }
    jobs = {
        "north": place("pothole", offset(DAMMAM, metres=300, azimuth=10), phone=PHONE),
        "south": place("pothole", offset(DAMMAM, metres=7000, azimuth=180), phone=PHONE),
        "khobar": place("pothole", KHOBAR, phone=PHONE),
    }
    assignments = {k: Assignment.objects.get(report=r) for k, r in jobs.items()}
    assert {k: a.crew.code for k, a in assignments.items()} == {
        "north": "dmm-north",
        "south": "dmm-south",
        "khobar": "khb",
    }
    return members, assignments


def signed_in(user) -> Client:
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def work_started(job) -> None:
    """Put the job in progress directly, its report too (as the crew's moves would)."""
    Assignment.objects.filter(pk=job.pk).update(state=AssignmentState.IN_PROGRESS)
    Report.objects.filter(pk=job.report_id).update(status=Status.IN_PROGRESS)


def post(client, path, body, **extra):
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def test_jobs_are_the_members_crews_only_as_geojson(teams):
    members, jobs = teams
    body = signed_in(members["north"]).get(JOBS).json()
    assert body["type"] == "FeatureCollection" and body["crew"]["code"] == "dmm-north"
    assert [f["id"] for f in body["features"]] == [jobs["north"].pk]
    feature = body["features"][0]
    props = feature["properties"]
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == pytest.approx(
        [jobs["north"].report.location.x, jobs["north"].report.location.y]
    )
    assert props["order"] == 1 and props["state"] == "assigned"
    assert props["transitions"] == ["accepted", "declined"]
    assert props["tracking_number"] == jobs["north"].report.tracking_number
    assert props["due_at"] and props["category"]["code"] == "roads_networks"
    assert props["navigation"]["geo"].startswith("geo:26.44")
    assert body["route"] is None  # no route plan yet: the hook for issue 6


def test_suggested_order_under_way_first_then_priority_and_due(make_crew, make_member):
    crew = make_crew("solo", capacity=10)
    member = make_member("solo1", crew)
    low = place("damaged_sidewalk", offset(DAMMAM, metres=300, azimuth=0))
    urgent = place("missing_manhole_cover", offset(DAMMAM, metres=600, azimuth=0))
    started = place("pothole", offset(DAMMAM, metres=900, azimuth=0))
    Assignment.objects.filter(report=started).update(state=AssignmentState.IN_PROGRESS)
    numbers = [
        f["properties"]["tracking_number"] for f in signed_in(member).get(JOBS).json()["features"]
    ]
    assert numbers == [started.tracking_number, urgent.tracking_number, low.tracking_number]


def test_another_crews_job_is_404_to_read_and_to_change(teams):
    members, jobs = teams
    client = signed_in(members["north"])
    for other in (jobs["south"], jobs["khobar"]):
        assert client.get(f"{JOBS}{other.pk}/").status_code == 404
        response = post(client, f"{JOBS}{other.pk}/transition/", {"to": "accepted"})
        assert response.status_code == 404
        other.refresh_from_db()
        assert other.state == AssignmentState.ASSIGNED
    assert client.get(f"{JOBS}{jobs['north'].pk}/").status_code == 200
    assert client.get(f"{JOBS}999999999/").status_code == 404


def test_users_without_a_crew_and_anonymous_callers_are_refused(teams, make_user):
    _members, jobs = teams
    outsider = signed_in(make_user("visitor"))
    anonymous = Client(HTTP_HOST="127.0.0.1")
    for client in (outsider, anonymous):
        assert client.get(JOBS).status_code in (401, 403)
        response = post(client, f"{JOBS}{jobs['north'].pk}/transition/", {"to": "accepted"})
        assert response.status_code in (401, 403)


def test_token_authentication(teams):
    members, jobs = teams
    token = Token.objects.create(user=members["south"])
    client = Client(HTTP_HOST="127.0.0.1")
    response = client.get(JOBS, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert [f["id"] for f in response.json()["features"]] == [jobs["south"].pk]
    response = post(
        client,
        f"{JOBS}{jobs['south'].pk}/transition/",
        {"to": "accepted"},
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 200 and response.json()["properties"]["state"] == "accepted"
    bad = client.get(JOBS, HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.status_code in (401, 403)


def test_no_reporter_contact_except_the_callback_phone_where_allowed(teams):
    members, jobs = teams
    client = signed_in(members["north"])
    text = client.get(JOBS).content.decode()
    for secret in (SECRET_NAME, SECRET_EMAIL, PHONE):
        assert secret not in text
    Category.objects.filter(code="pothole").update(callback_phone_for_crews=True)
    body = client.get(JOBS).json()
    assert body["features"][0]["properties"]["callback_phone"] == PHONE
    text = json.dumps(body)
    assert SECRET_NAME not in text and SECRET_EMAIL not in text


def test_transitions_through_the_api(teams):
    members, jobs = teams
    client = signed_in(members["north"])
    url = f"{JOBS}{jobs['north'].pk}/transition/"
    illegal = post(client, url, {"to": "completed", "note": "x"})
    assert illegal.status_code == 409 and illegal.json()["code"] == "illegal_transition"
    assert post(client, url, {"to": "cancelled"}).status_code == 403
    assert post(client, url, {"to": "flying"}).status_code == 400
    for to in ("accepted", "en_route", "in_progress"):
        assert post(client, url, {"to": to}).status_code == 200, to
    missing = post(client, url, {"to": "completed"})
    assert missing.status_code == 400 and "note" in missing.json()
    bad_gps = post(client, url, {"to": "completed", "note": "Filled", "lat": 95, "lon": 50})
    assert bad_gps.status_code == 400 and "lat" in bad_gps.json()
    far = offset(DAMMAM, metres=700, azimuth=0)
    done = post(
        client,
        url,
        {
            "to": "completed",
            "note": "Filled with asphalt",
            "location": {"type": "Point", "coordinates": list(far)},
            "client_id": "abc-1",
        },
    )
    assert done.status_code == 200, done.content
    props = done.json()["properties"]
    assert props["state"] == "completed" and props["transitions"] == []
    assert done.json()["flagged"].startswith("completed ")
    replay = post(client, url, {"to": "completed", "note": "Filled", "client_id": "abc-1"})
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    jobs["north"].report.refresh_from_db()
    assert jobs["north"].report.status == Status.RESOLVED
    # The finished job leaves the crew's list.
    assert client.get(JOBS).json()["features"] == []


def test_completion_with_a_photo_multipart(teams, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    members, jobs = teams
    client = signed_in(members["north"])
    url = f"{JOBS}{jobs['north'].pk}/transition/"
    work_started(jobs["north"])
    photo = SimpleUploadedFile("proof.jpg", jpeg_with_gps(), content_type="image/jpeg")
    response = client.post(url, {"to": "completed", "note": "Cleared", "photo": photo})
    assert response.status_code == 200, response.content
    jobs["north"].refresh_from_db()
    assert jobs["north"].completion_photo.name.startswith("crew-photos/")
    not_image = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
    other = jobs["south"]
    work_started(other)
    client = signed_in(members["south"])
    response = client.post(
        f"{JOBS}{other.pk}/transition/", {"to": "completed", "note": "x", "photo": not_image}
    )
    assert response.status_code == 400 and "photo" in response.json()


def test_open311_shows_the_progress(teams):
    members, jobs = teams
    client = signed_in(members["north"])
    report = jobs["north"].report
    url = f"{JOBS}{jobs['north'].pk}/transition/"

    def open311():
        anonymous = Client(HTTP_HOST="127.0.0.1")
        (item,) = anonymous.get(f"/open311/v2/requests/{report.tracking_number}.json").json()
        return item

    assert open311()["status_notes"] == "Assigned to a field crew."
    assert open311()["expected_datetime"] is not None
    post(client, url, {"to": "accepted"})
    post(client, url, {"to": "en_route"})
    item = open311()
    assert (item["status"], item["status_notes"]) == ("open", "A field crew is on the way.")
    post(client, url, {"to": "in_progress"})
    post(client, url, {"to": "completed", "note": "Internal words about the caller"})
    item = open311()
    assert item["status"] == "open"  # resolved, not yet closed by the supervisor
    assert item["status_notes"] == "The field crew completed the work."
    assert "caller" not in json.dumps(item)


# --- supervisors -----------------------------------------------------------------------------

QUEUE = "/api/v1/supervisor/queue/"


def action(client, report, name, body):
    return post(client, f"/api/v1/supervisor/reports/{report.pk}/{name}/", body)


def test_supervisor_queue_is_scoped_to_branches_or_department(teams, make_supervisor, make_crew):
    _members, jobs = teams
    dammam_boss = signed_in(make_supervisor("dammam-boss", branches=["dammam"]))
    numbers = {
        f["properties"]["tracking_number"] for f in dammam_boss.get(QUEUE).json()["features"]
    }
    assert numbers == {jobs["north"].report.tracking_number, jobs["south"].report.tracking_number}

    roads = Department.objects.create(code="roads", name_en="Roads", name_ar="الطرق")
    roads.categories.set(Category.objects.filter(code="roads_networks"))
    roads_boss = signed_in(make_supervisor("roads-boss", department=roads))
    assert len(roads_boss.get(QUEUE).json()["features"]) == 3
    both = signed_in(make_supervisor("khobar-roads", department=roads, branches=["khobar"]))
    (feature,) = both.get(QUEUE).json()["features"]
    assert feature["properties"]["tracking_number"] == jobs["khobar"].report.tracking_number
    assert feature["properties"]["crew"] == "khb"
    light = Department.objects.create(code="light", name_en="Lighting", name_ar="الإنارة")
    light.categories.set(Category.objects.filter(code="lighting_billboards"))
    assert (
        signed_in(make_supervisor("light-boss", department=light)).get(QUEUE).json()["features"]
        == []
    )


def test_flagged_reports_come_first_with_their_reasons(teams, make_supervisor):
    _members, jobs = teams
    lonely = place("street_light_out", offset(DAMMAM, metres=2000, azimuth=90))
    boss = signed_in(make_supervisor("dammam-boss", branches=["dammam"]))
    features = boss.get(QUEUE).json()["features"]
    assert features[0]["properties"]["tracking_number"] == lonely.tracking_number
    assert features[0]["properties"]["flags"][0]["kind"] == "no_eligible_crew"
    flagged = boss.get(QUEUE + "?flagged=true").json()["features"]
    assert [f["id"] for f in flagged] == [lonely.pk]
    flag_id = flagged[0]["properties"]["flags"][0]["id"]
    assert post(boss, f"/api/v1/supervisor/flags/{flag_id}/resolve/", {}).status_code == 200
    assert boss.get(QUEUE + "?flagged=true").json()["features"] == []


def test_supervisor_actions_and_their_scope(teams, make_supervisor):
    members, jobs = teams
    boss = signed_in(make_supervisor("dammam-boss", branches=["dammam"]))
    north, south, khobar = jobs["north"].report, jobs["south"].report, jobs["khobar"].report
    # Outside the scope: 404, nothing changes.
    assert action(boss, khobar, "cancel", {"reason": "x"}).status_code == 404
    assert action(boss, north, "fly", {}).status_code == 404
    response = action(boss, north, "reassign", {"crew": "dmm-south", "reason": "balance"})
    assert response.status_code == 200, response.content
    assert response.json()["properties"]["crew"] == "dmm-south"
    assert action(boss, north, "reassign", {"crew": "nobody"}).status_code == 400
    assert action(boss, north, "close", {}).status_code == 409  # not resolved
    merged = action(boss, south, "merge", {"into": north.tracking_number})
    assert merged.status_code == 200 and merged.json()["properties"]["status"] == "duplicate"
    assert action(boss, north, "cancel", {}).status_code == 400  # a reason is required
    assert action(boss, north, "cancel", {"reason": "Private land"}).status_code == 200
    north.refresh_from_db()
    assert north.status == Status.REJECTED


def test_roles_do_not_mix(teams, make_supervisor):
    members, jobs = teams
    crew_client = signed_in(members["north"])
    assert crew_client.get(QUEUE).status_code == 403
    response = action(crew_client, jobs["north"].report, "cancel", {"reason": "x"})
    assert response.status_code == 403
    boss = signed_in(make_supervisor("dammam-boss", branches=["dammam"]))
    assert boss.get(JOBS).status_code == 403
    response = post(boss, f"{JOBS}{jobs['north'].pk}/transition/", {"to": "accepted"})
    assert response.status_code == 403


def failing_route_provider(*, crew, jobs):
    raise RuntimeError("solver down")


def reversing_route_provider(*, crew, jobs):
    line = {"type": "LineString", "coordinates": [[50.1, 26.4], [50.11, 26.41]]}
    return [job.pk for job in reversed(jobs)], line


def test_route_plan_hook_orders_the_jobs_and_a_failing_planner_is_not_fatal(
    make_crew, make_member, settings
):
    crew = make_crew("solo", capacity=10)
    member = make_member("solo1", crew)
    first = place("missing_manhole_cover", offset(DAMMAM, metres=300, azimuth=0))
    second = place("pothole", offset(DAMMAM, metres=900, azimuth=0))
    client = signed_in(member)
    settings.GEO_OPS_CREW_ROUTE_PROVIDER = "tests.fieldteams.test_api.reversing_route_provider"
    body = client.get(JOBS).json()
    assert body["order"] == "route_plan" and body["route"]["type"] == "LineString"
    numbers = [f["properties"]["tracking_number"] for f in body["features"]]
    assert numbers == [second.tracking_number, first.tracking_number]
    settings.GEO_OPS_CREW_ROUTE_PROVIDER = "tests.fieldteams.test_api.failing_route_provider"
    body = client.get(JOBS).json()
    assert body["order"] == "priority" and body["route"] is None
    assert [f["properties"]["tracking_number"] for f in body["features"]] == [
        first.tracking_number,
        second.tracking_number,
    ]
