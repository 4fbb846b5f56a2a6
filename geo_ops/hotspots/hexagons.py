"""H3 hexagons with Getis-Ord Gi* (esda), stored per run.

The study area is every cell holding a report plus the ring of cells around them (holding none):
Gi* compares a cell and its neighbours with the whole area, so the empty ring gives the edges of
activity their context, while the empty desert between towns (most of the province) is left out
rather than drowning every town in zeros. Neighbours are the six adjacent cells (binary weights),
with the cell itself included (Gi*, `star=True`). Inference is by conditional permutation (999,
seeded, so a run is reproducible); the p-value is two-sided (twice esda's folded one-sided pseudo
p-value), so the bins mean what they say: +-3 at 99 %, +-2 at 95 %, +-1 at 90 % confidence, sign
from the z-score. With `fdr`, each level's threshold is lowered by esda's false-discovery-rate
procedure over all cells. The permutations are conditional (esda keeps a cell's own count and
shuffles its neighbours'), so a hot spot is a hot *neighbourhood*: one crowded cell among quiet
ones is not, by this test, while DBSCAN finds such compact spots.
"""

import time
import warnings
from dataclasses import dataclass

import h3
import numpy as np
from django.db import connection, transaction
from h3.api import basic_int as h3i

from . import conf
from .filters import HotspotFilters
from .models import HotspotHexagon, HotspotRun
from .selectors import analysis_where, data_fingerprint, run_current, run_signature
from .trends import WEEK_S, trend_labels, weekly_counts, weeks_in

LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))

# The reports' coordinates and their week in the period, straight into arrays (raw SQL: the ORM
# would build a model instance or a dict per report).
POINTS_SQL = """
SELECT ST_X(r.location), ST_Y(r.location),
       floor(extract(epoch FROM r.created_at - %(f_from)s) / {week})::int
FROM reports_report r
WHERE {where}
"""


@dataclass
class GiStar:
    """Gi* over the study area's cells (arrays aligned with `cells`)."""

    cells: np.ndarray  # uint64 H3 indexes
    counts: np.ndarray
    z: np.ndarray
    p: np.ndarray
    bins: np.ndarray
    cell_of_point: np.ndarray  # index into cells for each input point


def h3_cells(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """The H3 cell (as uint64) of each point."""
    return np.fromiter(
        (
            h3i.latlng_to_cell(y, x, resolution)
            for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
        ),
        dtype=np.uint64,
        count=len(lon),
    )


def _adjacency(cells: np.ndarray):
    """Binary weights: 1 between each cell and each of its (up to six) neighbours in `cells`, as
    a scipy.sparse.csr_array."""
    # Imported here, as esda below: scipy takes a noticeable time to load for every command.
    import scipy.sparse as sp

    rings = [h3i.grid_ring(int(c), 1) for c in cells.tolist()]
    lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    flat = np.fromiter(
        (n for ring in rings for n in ring), dtype=np.uint64, count=int(lengths.sum())
    )
    focal = np.repeat(np.arange(len(cells)), lengths)
    position = np.searchsorted(cells, flat)
    position[position >= len(cells)] = 0
    keep = cells[position] == flat
    focal, neighbour = focal[keep], position[keep]
    return sp.csr_array((np.ones(len(focal)), (focal, neighbour)), shape=(len(cells), len(cells)))


def gi_star(
    *,
    lon: np.ndarray,
    lat: np.ndarray,
    resolution: int,
    permutations: int,
    seed: int,
    fdr: bool = False,
) -> GiStar:
    """Aggregate points to H3 cells and compute Getis-Ord Gi* with permutation inference."""
    from esda.getisord import G_Local
    from esda.util import fdr as fdr_threshold
    from libpysal.graph import Graph

    point_cells = h3_cells(lon, lat, resolution)
    occupied, counts = np.unique(point_cells, return_counts=True)
    ring = np.fromiter((n for c in occupied.tolist() for n in h3i.grid_ring(c, 1)), dtype=np.uint64)
    cells = np.union1d(occupied, ring)
    y = np.zeros(len(cells))
    y[np.searchsorted(cells, occupied)] = counts
    cell_of_point = np.searchsorted(cells, point_cells)
    if len(occupied) == 0:
        empty = np.zeros(0)
        return GiStar(cells, y, empty, empty, empty.astype(int), cell_of_point)
    graph = Graph.from_sparse(_adjacency(cells))
    with warnings.catch_warnings():
        # Separate towns are separate components of the weights: expected, not a problem.
        warnings.simplefilter("ignore")
        g = G_Local(
            y,
            graph,
            transform="B",
            permutations=permutations,
            star=True,
            keep_simulations=False,
            n_jobs=1,
            seed=seed,
        )
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float))
    p = np.minimum(1.0, 2 * np.asarray(g.p_sim, dtype=float))
    bins = np.zeros(len(cells), dtype=np.int64)
    sign = np.sign(z).astype(np.int64)
    for level, alpha in reversed(LEVELS):
        threshold = fdr_threshold(p, alpha) if fdr else alpha
        bins = np.where(p <= threshold, sign * level, bins)
    return GiStar(cells, y, z, p, bins, cell_of_point)


def cell_polygon(index: str) -> list[list[float]]:
    """The hexagon of an H3 cell as a closed GeoJSON ring (longitude first)."""
    ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(index)]
    return [*ring, ring[0]]


def _params(filters: HotspotFilters) -> dict:
    return {
        "resolution": filters.resolution,
        "permutations": conf.get("GEO_OPS_HOTSPOT_PERMUTATIONS"),
        "seed": conf.get("GEO_OPS_HOTSPOT_SEED"),
        "fdr": filters.fdr,
        "weights": "h3 ring 1, binary, star",
    }


def hotspot_hexagons_compute(*, filters: HotspotFilters, trigger: str = "api") -> HotspotRun:
    """Gi* hexagons (with trends of the hot ones) for the selected reports, stored as a run."""
    started = time.perf_counter()
    params = _params(filters)
    fingerprint = data_fingerprint(filters=filters)
    where, where_params = analysis_where(filters=filters)
    with connection.cursor() as cursor:
        cursor.execute(POINTS_SQL.format(where=where, week=WEEK_S), where_params)
        rows = cursor.fetchall()
    points = np.array(rows, dtype=np.float64).reshape(-1, 3)
    result = gi_star(
        lon=points[:, 0],
        lat=points[:, 1],
        resolution=filters.resolution,
        permutations=params["permutations"],
        seed=params["seed"],
        fdr=filters.fdr,
    )
    weeks = weeks_in((filters.date_to - filters.date_from).total_seconds())
    hot = np.flatnonzero(result.bins > 0)
    labels, tau, p_trend = [], np.zeros(0), np.zeros(0)
    series = np.zeros((0, weeks), dtype=np.int64)
    if len(hot):
        position = np.full(len(result.cells), -1)
        position[hot] = np.arange(len(hot))
        in_hot = position[result.cell_of_point] >= 0
        series = weekly_counts(
            points[in_hot, 2].astype(np.int64),
            position[result.cell_of_point[in_hot]],
            len(hot),
            weeks,
        )
        labels, tau, p_trend = trend_labels(series)
    trend_of = {int(cell): k for k, cell in enumerate(hot)}
    with transaction.atomic():
        run = HotspotRun.objects.create(
            kind=HotspotRun.Kind.HEXAGONS,
            category=filters.category,
            branch=filters.branch,
            date_from=filters.date_from,
            date_to=filters.date_to,
            params=params,
            signature=run_signature(kind=HotspotRun.Kind.HEXAGONS, filters=filters, params=params),
            fingerprint=fingerprint,
            trigger=trigger,
            reports=len(points),
        )
        hexagons = []
        for i, cell in enumerate(result.cells.tolist()):
            k = trend_of.get(i)
            hexagons.append(
                HotspotHexagon(
                    run=run,
                    h3_index=h3.int_to_str(cell),
                    resolution=filters.resolution,
                    report_count=int(result.counts[i]),
                    z_score=round(float(result.z[i]), 4),
                    p_value=round(float(result.p[i]), 4),
                    bin=int(result.bins[i]),
                    trend=labels[k] if k is not None else "",
                    trend_tau=round(float(tau[k]), 4) if k is not None else None,
                    trend_p=round(float(p_trend[k]), 4) if k is not None else None,
                    weekly_counts=series[k].tolist() if k is not None else None,
                )
            )
        HotspotHexagon.objects.bulk_create(hexagons, batch_size=2000)
        run.results = len(hexagons)
        run.duration_ms = round((time.perf_counter() - started) * 1000)
        run.save(update_fields=["results", "duration_ms"])
    return run


def hotspot_hexagons_current(*, filters: HotspotFilters, trigger: str = "api") -> HotspotRun:
    """The stored run for these filters if its data is unchanged, else a new one."""
    if not filters.refresh:
        signature = run_signature(
            kind=HotspotRun.Kind.HEXAGONS, filters=filters, params=_params(filters)
        )
        run = run_current(signature=signature, fingerprint=data_fingerprint(filters=filters))
        if run is not None:
            return run
    return hotspot_hexagons_compute(filters=filters, trigger=trigger)
