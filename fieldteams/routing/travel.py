"""Travel times for the route planner, behind one small interface.

`TravelTimes.matrices(points=..., vehicle_type=...)` answers the planner's one question: for
these points (WGS84 lon, lat), how many metres and seconds from each to each. `line(...)` gives
the geometry to draw between consecutive stops. The planner gets its provider from
settings.GEO_OPS_ROUTE_TRAVEL_TIMES (`travel_times()`), so a road-network provider (pgRouting's
`pgr_dijkstraCostMatrix` over an imported OpenStreetMap extract, with the path geometry from
`pgr_dijkstra`) can replace the default without touching the planner.

The default, `GreatCircleTravelTimes`, estimates the road distance as the great-circle distance
times a detour factor, and the time from an average speed per vehicle type (settings). It is
computed with numpy (haversine over all pairs at once), not with PostGIS: the points are already
in the planner's memory (it has just read the jobs), a plan has a few hundred of them, and an
n x n haversine in numpy takes ~5 ms for 400 points while the same matrix from PostGIS
(`ST_Distance(a::geography, b::geography)` over a cross join) means shipping the points to the
database and 160,000 rows back (~0.3 s, see bench/routes.py, which measures both). The sphere
instead of the ellipsoid costs at most ~0.5 %, far inside the uncertainty of the detour factor.
`PostgisTravelTimes` is that set-based alternative (one statement, geography), kept for the
comparison and as a template for the pgRouting provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


@dataclass(frozen=True)
class Matrices:
    """Integer metres and seconds between every pair of points (row: from, column: to)."""

    distances_m: np.ndarray  # (n, n) int64
    durations_s: np.ndarray  # (n, n) int64


class TravelTimes(Protocol):
    """What the planner needs from a travel-time provider."""

    name: str

    def matrices(self, *, points: Sequence[tuple[float, float]], vehicle_type: str) -> Matrices:
        """Metres and seconds from each point to each other one (lon, lat in WGS84)."""

    def line(self, *, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        """The path through `points` in order, as lon, lat vertices (for the map)."""


def vehicle_speed_ms(vehicle_type: str) -> float:
    """Average speed of a vehicle type in metres per second (settings)."""
    types = settings.GEO_OPS_ROUTE_VEHICLE_TYPES
    spec = types.get(vehicle_type) or types[settings.GEO_OPS_ROUTE_DEFAULT_VEHICLE]
    return float(spec["speed_kmh"]) / 3.6


def haversine_matrix(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Great-circle metres between all pairs of (lon, lat) points, as floats (n x n)."""
    xy = np.radians(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    lon, lat = xy[:, 0], xy[:, 1]
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class GreatCircleTravelTimes:
    """Road distance ~ great circle x detour factor; time = that / the vehicle's average speed."""

    name = "great-circle"

    def __init__(self, *, detour_factor: float | None = None):
        self.detour_factor = (
            detour_factor if detour_factor is not None else settings.GEO_OPS_ROUTE_DETOUR_FACTOR
        )

    def _metres(self, points) -> np.ndarray:
        return haversine_matrix(points) * self.detour_factor

    def matrices(self, *, points, vehicle_type: str) -> Matrices:
        metres = self._metres(points)
        seconds = metres / vehicle_speed_ms(vehicle_type)
        return Matrices(
            distances_m=np.rint(metres).astype(np.int64),
            durations_s=np.rint(seconds).astype(np.int64),
        )

    def line(self, *, points) -> list[tuple[float, float]]:
        # Without a road network the best drawing is the straight leg between the stops.
        return [(float(x), float(y)) for x, y in points]


class PostgisTravelTimes(GreatCircleTravelTimes):
    """The same estimate with the distances from PostGIS: one statement over all pairs on
    geography (the spheroid), for the comparison in bench/routes.py."""

    name = "postgis-geography"

    def _metres(self, points) -> np.ndarray:
        from django.db import connection

        n = len(points)
        # The points travel as two float arrays; unnest WITH ORDINALITY numbers them, and the
        # cross join measures every ordered pair on the spheroid in one statement.
        sql = """
            WITH p AS (
                SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography AS g
                FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(x, y, i)
            )
            SELECT a.i, b.i, ST_Distance(a.g, b.g) FROM p AS a CROSS JOIN p AS b
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, [[float(p[0]) for p in points], [float(p[1]) for p in points]])
            rows = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 3)
        metres = np.zeros((n, n))
        if len(rows):
            metres[rows[:, 0].astype(int) - 1, rows[:, 1].astype(int) - 1] = rows[:, 2]
        return metres * self.detour_factor


def travel_times() -> TravelTimes:
    """The configured provider (settings.GEO_OPS_ROUTE_TRAVEL_TIMES)."""
    return import_string(settings.GEO_OPS_ROUTE_TRAVEL_TIMES)()
