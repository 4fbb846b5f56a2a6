"""The point-to-branch join, through the subdivided pieces, on and near boundaries."""

import json

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import Point
from django.db import connection
from shapely.geometry import shape

from layers.models import BranchMunicipality, BranchMunicipalityPiece
from layers.selectors import boundary_join_sql, branch_for_point
from tests.conftest import BRANCHES_FIXTURE, DAMMAM_CORNICHE, KHOBAR_CENTRE, OPEN_GULF

pytestmark = pytest.mark.django_db

# Two 0.01-degree squares sharing the meridian 10.0 E, far from the real Eastern Province layer.
WEST = [(9.99, 10.0), (10.0, 10.0), (10.0, 10.01), (9.99, 10.01), (9.99, 10.0)]
EAST = [(10.0, 10.0), (10.01, 10.0), (10.01, 10.01), (10.0, 10.01), (10.0, 10.0)]
ONE_METRE = 1 / 111_320  # degrees of longitude per metre at the equator, an upper bound here


def join_in_sql(points: list[tuple[float, float]]) -> list[int | None]:
    """The set-based join the bulk paths use, for a list of (lon, lat)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT branch_join.branch_id
            FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, n)
            {boundary_join_sql(point_sql="ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)")}
            ORDER BY p.n
            """,
            [[float(p[0]) for p in points], [float(p[1]) for p in points]],
        )
        return [row[0] for row in cursor.fetchall()]


def test_real_branches_are_loaded_and_subdivided():
    assert BranchMunicipality.objects.count() == 10
    # Every piece respects the vertex limit and the pieces cover each branch exactly.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT max(ST_NPoints(p.geom)),
                   max(abs(ST_Area(b.geom) - pieces.area) / ST_Area(b.geom))
            FROM layers_branchmunicipality b
            JOIN (SELECT branch_id, sum(ST_Area(geom)) AS area
                  FROM layers_branchmunicipalitypiece GROUP BY branch_id) pieces
              ON pieces.branch_id = b.id
            JOIN layers_branchmunicipalitypiece p ON p.branch_id = b.id
            """
        )
        max_points, max_area_error = cursor.fetchone()
    assert max_points <= 128 + 1
    assert max_area_error < 1e-9  # planar area: the cuts neither add nor lose any
    assert BranchMunicipalityPiece.objects.count() > 10 * 10


def test_known_places_join_to_their_branch():
    assert branch_for_point(point=Point(*DAMMAM_CORNICHE, srid=4326)).code == "dammam"
    assert branch_for_point(point=Point(*KHOBAR_CENTRE, srid=4326)).code == "khobar"
    assert branch_for_point(point=Point(*OPEN_GULF, srid=4326)) is None


def test_points_a_metre_either_side_of_a_shared_edge(make_branch):
    west = make_branch("test_west", WEST)
    east = make_branch("test_east", EAST)
    lat = 10.005
    assert branch_for_point(point=Point(10.0 - ONE_METRE, lat, srid=4326)) == west
    assert branch_for_point(point=Point(10.0 + ONE_METRE, lat, srid=4326)) == east
    assert branch_for_point(point=Point(10.02, lat, srid=4326)) is None
    # Exactly on the shared edge both touch it: the lower id wins, in the ORM and in SQL alike.
    assert branch_for_point(point=Point(10.0, lat, srid=4326)) == west
    assert join_in_sql([(10.0, lat), (10.0 + ONE_METRE, lat), (10.02, lat)]) == [
        west.pk,
        east.pk,
        None,
    ]


def test_subdivided_join_matches_shapely_on_the_unsubdivided_polygons():
    """Random points plus points 5 m either side of real boundary vertices: the join through the
    pieces must give what a plain point-in-polygon test on the full polygons gives."""
    features = json.loads(BRANCHES_FIXTURE.read_text())["features"]
    polygons = {f["properties"]["code"]: shape(f["geometry"]) for f in features}
    for polygon in polygons.values():
        shapely.prepare(polygon)
    ids = dict(BranchMunicipality.objects.values_list("code", "id"))
    rng = np.random.default_rng(7)

    points = list(zip(rng.uniform(48.5, 50.5, 1500), rng.uniform(25.5, 28.5, 1500), strict=True))
    for code in ("dammam", "khobar", "qatif"):
        ring = np.asarray(max(polygons[code].geoms, key=lambda g: g.area).exterior.coords)
        for x, y in ring[rng.choice(len(ring), 150, replace=False)]:
            offset = 5 * ONE_METRE
            points += [(x + offset, y), (x - offset, y), (x, y + offset), (x, y - offset)]

    expected = []
    for lon, lat in points:
        point = shapely.Point(lon, lat)
        inside = sorted(ids[code] for code, poly in polygons.items() if poly.covers(point))
        expected.append(inside[0] if inside else None)
    assert join_in_sql(points) == expected
    assert sum(e is not None for e in expected) > 1000  # the sample really exercises the join
