"""The public reports API (/api/v1/reports/) uses the same privacy rules as the public map."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from geo_ops.reports.models import Category, PublicVisibility

pytestmark = pytest.mark.django_db

SHOP = (50.10337, 26.44251)
REPORTS = "/api/v1/reports/"


@pytest.fixture
def client():
    return Client(HTTP_HOST="127.0.0.1")


def feature(client, report, **params):
    body = client.get(REPORTS, params).json()
    matches = [f for f in body["features"] if f["properties"]["tracking_number"] == report]
    return matches[0] if matches else None


def test_public_list_shows_coarsened_location_of_sensitive_category(client, make_report):
    market = make_report("food_hygiene", *SHOP)
    pothole = make_report("pothole", *SHOP)
    coarse = feature(client, market.tracking_number)["geometry"]["coordinates"]
    assert coarse != pytest.approx(list(SHOP), abs=1e-7)
    assert abs(coarse[0] - SHOP[0]) < 0.001 and abs(coarse[1] - SHOP[1]) < 0.001
    exact = feature(client, pothole.tracking_number)["geometry"]["coordinates"]
    assert exact == pytest.approx(list(SHOP), abs=1e-9)
    detail = client.get(f"{REPORTS}{market.pk}/").json()
    assert detail["geometry"]["coordinates"] == pytest.approx(coarse)


def test_public_bbox_filter_works_on_the_coarsened_location(client, make_report):
    market = make_report("food_hygiene", *SHOP)
    tiny = f"{SHOP[0] - 1e-5},{SHOP[1] - 1e-5},{SHOP[0] + 1e-5},{SHOP[1] + 1e-5}"
    assert feature(client, market.tracking_number, in_bbox=tiny) is None
    around = "50.09,26.43,50.12,26.45"
    assert feature(client, market.tracking_number, in_bbox=around) is not None


def test_hidden_category_is_left_out_of_the_public_list(client, make_report):
    Category.objects.filter(code="rodents").update(public_visibility=PublicVisibility.HIDDEN)
    rodents = make_report("rodents", *SHOP)
    assert feature(client, rodents.tracking_number) is None


def test_staff_with_contact_permission_see_the_exact_location(client, make_report):
    market = make_report("food_hygiene", *SHOP)
    user = User.objects.create_user("supervisor", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_reportercontact"))
    client.force_login(user)
    exact = feature(client, market.tracking_number)["geometry"]["coordinates"]
    assert exact == pytest.approx(list(SHOP), abs=1e-9)
    tiny = f"{SHOP[0] - 1e-5},{SHOP[1] - 1e-5},{SHOP[0] + 1e-5},{SHOP[1] + 1e-5}"
    assert feature(client, market.tracking_number, in_bbox=tiny) is not None
