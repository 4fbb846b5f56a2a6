"""The interior-cell grid (layers.selectors.GRID_LEVELS, layers.services.boundary_cells_refresh):
every stored cell lies inside its boundary and touches no other, and placing a point by its cell
gives the branch the exact join gives."""

import numpy as np
import pytest
from django.db import connection

from layers.models import BranchMunicipalityCell
from layers.selectors import GRID_LEVELS, boundary_join_sql, grid_join_sql

pytestmark = pytest.mark.django_db

# The square of a stored cell, decoded from its key: key = (i * 2^20 + j) * levels + level.
CELL_SQUARE_SQL = f"""
    WITH decoded AS (
        SELECT c.cell, c.branch_id, c.cell % {len(GRID_LEVELS)} AS level,
               div(c.cell, {len(GRID_LEVELS)}) AS ij
        FROM layers_branchmunicipalitycell AS c
    ), cells AS (
        SELECT cell, branch_id, level,
               div(ij + 524288, 1048576) AS i, ij - div(ij + 524288, 1048576) * 1048576 AS j,
               (ARRAY{list(GRID_LEVELS)})[level::int + 1]::float8 AS n
        FROM decoded
    )
    SELECT cell, branch_id, level,
           ST_MakeEnvelope(i / n, j / n, (i + 1) / n, (j + 1) / n, 4326) AS square
    FROM cells
"""


def test_every_stored_cell_is_inside_its_branch_and_touches_no_other():
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH squares AS ({CELL_SQUARE_SQL})
            SELECT count(*),
                   count(*) FILTER (WHERE level = 0),
                   count(*) FILTER (WHERE NOT ST_ContainsProperly(b.geom, s.square)),
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM layers_branchmunicipalitypiece AS o
                       WHERE o.branch_id <> s.branch_id AND ST_Intersects(o.geom, s.square)))
            -- in branch order, so that PostGIS tests each branch polygon in its prepared form
            FROM (SELECT * FROM squares ORDER BY branch_id OFFSET 0) AS s
            JOIN layers_branchmunicipality AS b ON b.id = s.branch_id
            """
        )
        cells, coarse, outside_own, touching_other = cursor.fetchone()
    # The ten real branches: both levels are in use.
    assert cells > 100_000 and 0 < coarse < cells
    assert (outside_own, touching_other) == (0, 0)


def test_grid_and_exact_join_agree_on_random_points_and_cell_edges():
    rng = np.random.default_rng(7)
    lon = rng.uniform(47.5, 50.4, 40_000)
    lat = rng.uniform(25.8, 28.6, 40_000)
    # Points exactly on fine cell edges and corners as well (i / 512 is exact in float8).
    lon[:4000] = np.floor(lon[:4000] * GRID_LEVELS[1]) / GRID_LEVELS[1]
    lat[2000:6000] = np.floor(lat[2000:6000] * GRID_LEVELS[1]) / GRID_LEVELS[1]
    joins, owner = grid_join_sql(layer="branch", lon_sql="p.lon", lat_sql="p.lat", alias="g")
    point = "ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH p AS (SELECT * FROM unnest(%s::float8[], %s::float8[]) AS p(lon, lat)),
            placed AS (
                SELECT {owner} AS by_grid, branch_join.branch_id AS exact
                FROM p {joins} {boundary_join_sql(point_sql=point)}
            )
            SELECT count(*), count(by_grid),
                   count(*) FILTER (WHERE by_grid IS DISTINCT FROM exact AND by_grid IS NOT NULL)
            FROM placed
            """,
            [lon.tolist(), lat.tolist()],
        )
        total, by_grid, disagree = cursor.fetchone()
    assert disagree == 0
    # A real share of the points is placed without a geometry test (the rest: sea, desert
    # outside, near a boundary).
    assert by_grid > total * 0.3


def test_grid_keys_reject_coordinates_off_the_globe():
    joins, owner = grid_join_sql(layer="branch", lon_sql="p.lon", lat_sql="p.lat", alias="g")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {owner} FROM (VALUES (50.10::float8, 26.43::float8),
                (50.10 + 360, 26.43), (50.10, 26.43 + 180), ('NaN', 26.43), (1e300, 1e300),
                ('Infinity', '-Infinity')) AS p(lon, lat) {joins}
            """
        )
        owners = [row[0] for row in cursor.fetchall()]
    assert owners[0] is not None and owners[1:] == [None] * 5


def test_a_new_boundary_gets_cells_and_overlaps_get_none(make_branch):
    # Two overlapping squares far from the real branches.
    first = make_branch(
        "grid_a", [(44.0, 20.0), (44.2, 20.0), (44.2, 20.2), (44.0, 20.2), (44.0, 20.0)]
    )
    second = make_branch(
        "grid_b", [(44.1, 20.0), (44.3, 20.0), (44.3, 20.2), (44.1, 20.2), (44.1, 20.0)]
    )

    owners = set(
        BranchMunicipalityCell.objects.filter(branch__in=[first, second]).values_list(
            "branch_id", flat=True
        )
    )
    assert owners == {first.pk, second.pk}
    joins, owner = grid_join_sql(layer="branch", lon_sql="p.lon", lat_sql="p.lat", alias="g")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT {owner} FROM (VALUES (44.05::float8, 20.1::float8), (44.15, 20.1),
                (44.25, 20.1)) AS p(lon, lat) {joins}"""
        )
        assert [row[0] for row in cursor.fetchall()] == [first.pk, None, second.pk]
