"""The truth check: do the clusters recover the demo year's planted hotspots, and nothing else?

`generate_demo_data --truth-out` writes the planted hotspots (category, lon, lat, radius_m,
count). Over the demo year's clusters:

- a planted hotspot is *found* when a cluster of its category has its centroid within
  max(radius_m, 150 m) of the planted centre;
- a cluster that finds no planted hotspot is *explained by the urban background* when the demo
  generator's own background model makes a chance cluster there likely: the background intensity
  of the category, lambda(x) (reports per km^2: each urban centre's Gaussian, weighted by its
  share, scaled up by the share of its draws that the generator keeps inside the service area,
  since it redraws the others), gives mu(x) = lambda(x) * pi * eps^2 background reports within eps
  of a report at x, and a report there is a DBSCAN core point by chance with probability
  p(x) = P(Poisson(mu(x)) >= min_points - 1). The expected number of such chance core points
  within 1 km of the centroid, E = integral over that disk of lambda(x) * p(x), is what the
  background alone produces there; the cluster is explained when P(at least one) = 1 - exp(-E)
  is at least 5 % (the background would put a cluster there in one demo year out of twenty);
- any other cluster is *spurious*.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geo_ops.hotspots.models import HotspotRun

from . import year

FOUND_MIN_RADIUS_M = 150
BACKGROUND_NEIGHBOURHOOD_KM = 1.0
BACKGROUND_MIN_CHANCE = 0.05
_INSIDE_DRAWS = 20000
_GRID = 41  # integration points per axis over the neighbourhood disk


@dataclass
class TruthCheck:
    planted: int = 0
    found: int = 0
    clusters: int = 0
    planted_clusters: int = 0
    background_clusters: int = 0
    spurious_clusters: int = 0
    missed: list[dict] = field(default_factory=list)
    spurious: list[dict] = field(default_factory=list)

    @property
    def found_share(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def spurious_share(self) -> float:
        return self.spurious_clusters / self.clusters if self.clusters else 0.0

    def lines(self) -> list[str]:
        out = [
            f"planted hotspots found: {self.found}/{self.planted} ({self.found_share:.0%})",
            f"clusters: {self.clusters} = {self.planted_clusters} planted + "
            f"{self.background_clusters} urban background + {self.spurious_clusters} spurious "
            f"({self.spurious_share:.0%} spurious)",
        ]
        out += [f"  missed: {m}" for m in self.missed]
        out += [f"  spurious: {s}" for s in self.spurious]
        return out


def _metres(lon1, lat1, lon2, lat2):
    x = (lon2 - lon1) * np.cos(np.radians((lat1 + lat2) / 2)) * year.KM_PER_DEGREE * 1000
    y = (lat2 - lat1) * year.KM_PER_DEGREE * 1000
    return np.hypot(x, y)


class BackgroundModel:
    """The demo generator's urban background as an intensity per category (reports per km^2)."""

    def __init__(self, *, background_reports: dict[str, int], seed: int = 0):
        area = year._Area()
        weights = year._branch_weights()
        rng = np.random.default_rng(seed)
        centres = [c for c in year.URBAN_CENTRES if c.branch in area.branches]
        total = sum(weights.get(c.branch, 0) * c.share for c in centres)
        self.background_reports = background_reports
        self.centres = []
        for centre in centres:
            # The generator redraws points that fall outside every branch, so the density inside
            # is the Gaussian's divided by the share of draws that land inside.
            dx, dy = rng.normal(0, centre.spread_km, (2, _INSIDE_DRAWS))
            lat = centre.lat + dy / year.KM_PER_DEGREE
            lon = centre.lon + dx / (year.KM_PER_DEGREE * math.cos(math.radians(centre.lat)))
            inside = max(area.inside(lon, lat).mean(), 1 / _INSIDE_DRAWS)
            share = weights.get(centre.branch, 0) * centre.share / total
            self.centres.append((centre, share / inside))

    def intensity(self, category: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        n = self.background_reports.get(category, 0)
        out = np.zeros(np.shape(lon))
        for centre, weight in self.centres:
            km = _metres(centre.lon, centre.lat, lon, lat) / 1000
            sigma = centre.spread_km
            out += n * weight * np.exp(-(km**2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
        return out

    def chance_of_cluster(
        self, *, category: str, lon: float, lat: float, eps_m: float, min_points: int
    ) -> float:
        """P(the background alone puts a DBSCAN core point within 1 km of lon, lat)."""
        # Imported here: scipy.stats takes a second to load, and only this check needs it.
        from scipy.stats import poisson

        radius = BACKGROUND_NEIGHBOURHOOD_KM
        steps = np.linspace(-radius, radius, _GRID)
        dx, dy = np.meshgrid(steps, steps)
        disk = dx**2 + dy**2 <= radius**2
        cell_km2 = (steps[1] - steps[0]) ** 2
        grid_lat = lat + dy[disk] / year.KM_PER_DEGREE
        grid_lon = lon + dx[disk] / (year.KM_PER_DEGREE * math.cos(math.radians(lat)))
        lam = self.intensity(category, grid_lon, grid_lat)
        mu = lam * math.pi * (eps_m / 1000) ** 2
        p_core = poisson.sf(min_points - 2, mu)  # P(X >= min_points - 1)
        expected = float((lam * p_core).sum() * cell_km2)
        return 1 - math.exp(-expected)


def truth_check(*, run: HotspotRun, truth: dict | Path) -> TruthCheck:
    """Compare a clusters run over the demo year with the planted hotspots."""
    if isinstance(truth, Path | str):
        truth = json.loads(Path(truth).read_text())
    planted = truth["hotspots"]
    clusters = list(run.clusters.select_related("category"))
    result = TruthCheck(planted=len(planted), clusters=len(clusters))
    matched: set[int] = set()
    for hotspot in planted:
        reach = max(hotspot["radius_m"], FOUND_MIN_RADIUS_M)
        hits = [
            c.pk
            for c in clusters
            if c.category.code == hotspot["category"]
            and _metres(hotspot["lon"], hotspot["lat"], c.centroid.x, c.centroid.y) <= reach
        ]
        if hits:
            result.found += 1
            matched.update(hits)
        else:
            result.missed.append(hotspot)
    result.planted_clusters = len(matched)

    planted_per_category: dict[str, int] = {}
    for hotspot in planted:
        planted_per_category[hotspot["category"]] = (
            planted_per_category.get(hotspot["category"], 0) + hotspot["count"]
        )
    totals = {code: p["reports"] for code, p in run.params["dbscan"].items()}
    model = BackgroundModel(
        background_reports={
            code: max(0, n - planted_per_category.get(code, 0)) for code, n in totals.items()
        }
    )
    for cluster in clusters:
        if cluster.pk in matched:
            continue
        chance = model.chance_of_cluster(
            category=cluster.category.code,
            lon=cluster.centroid.x,
            lat=cluster.centroid.y,
            eps_m=cluster.eps_m,
            min_points=cluster.min_points,
        )
        if chance >= BACKGROUND_MIN_CHANCE:
            result.background_clusters += 1
        else:
            result.spurious_clusters += 1
            result.spurious.append(
                {
                    "category": cluster.category.code,
                    "lon": round(cluster.centroid.x, 5),
                    "lat": round(cluster.centroid.y, 5),
                    "reports": cluster.report_count,
                    "background_chance": round(chance, 4),
                }
            )
    return result
