"""The demo year: synthetic reports that reproduce the 940 hotline's annual figures.

The figures come from the Amanah's report (../shared/seed/README.md): 17,534 reports a year, the
six category counts, closure rates for three categories, more than 7,000 through the smart
channels, 95 % processed. Everything else (where, when, how long it took) is modelled here and
documented beside its constant. Deterministic for a given seed: one numpy Generator drives it all.
"""

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely import wkb

from geo_ops.reports.models import Category, Channel, Status
from layers.models import BranchMunicipality

RIYADH = ZoneInfo("Asia/Riyadh")

# Reports received in the year, per category (the press release's table).
CATEGORY_COUNTS = {
    "markets_public_health": 4006,
    "environmental_sanitation": 2142,
    "public_cleanliness": 4367,
    "parks_facilities": 564,
    "roads_networks": 3174,
    "lighting_billboards": 3281,
}
# Share closed by the end of the year. The first three are the press release's; it gives none for
# the last three, so they are set lower (maintenance work waits for contractors and parts) while
# keeping the total above the "more than 13,000 closed" it states: 14,107 of 17,534.
CLOSURE_RATES = {
    "markets_public_health": 0.90,
    "environmental_sanitation": 0.95,
    "public_cleanliness": 0.85,
    "parks_facilities": 0.70,
    "roads_networks": 0.65,
    "lighting_billboards": 0.70,
}
# "95 % of all reports were processed": the other 5 % are still new.
PROCESSED_RATE = 0.95
# Reports not closed and not new, split between these statuses.
IN_HAND_SHARES = {Status.ASSIGNED: 0.40, Status.IN_PROGRESS: 0.30, Status.RESOLVED: 0.30}
# "More than 7,000" through the smart channels: 42 % of 17,534 is 7,364; the rest by phone.
CHANNEL_SHARES = {
    Channel.APP: 0.26,
    Channel.WEB: 0.07,
    Channel.SOCIAL: 0.09,
    Channel.HOTLINE_940: 0.58,
}
# Reports filed against the category itself rather than one of its subcategories.
NO_SUBCATEGORY_SHARE = 0.08
# Day-of-week weights, Monday first: the Friday-Saturday weekend is quieter.
WEEKDAY_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 0.55, 0.7, 1.05]
# Hour-of-day weights (local time): a morning peak, a lull at midday prayer and the afternoon
# heat, and the busiest hours in the evening when people are out.
HOUR_WEIGHTS = [
    0.6, 0.4, 0.25, 0.15, 0.15, 0.3, 0.6, 1.2, 1.8, 2.0, 2.0, 1.8,
    1.2, 1.3, 1.4, 1.5, 1.7, 1.9, 2.1, 2.3, 2.2, 1.9, 1.4, 0.9,
]  # fmt: skip
# Resolution time: log-normal around this share of the SLA, so most but not all meet it.
RESOLUTION_MEDIAN_SLA_SHARE = 0.55
RESOLUTION_SIGMA = 0.9
# Planted hotspots: per category, compact clusters the hotspot analysis must find again.
HOTSPOTS_PER_CATEGORY = 3
HOTSPOT_RADIUS_M = (120, 250)
HOTSPOT_SHARE_OF_CATEGORY = (0.012, 0.02)  # each hotspot holds this share of its category
# Open reports are mostly recent: the chance of still being open grows with this time scale.
OPEN_RECENCY_DAYS = 45


@dataclass(frozen=True)
class UrbanCentre:
    """A population centre: reports scatter around it with a Gaussian of the given spread."""

    name: str
    branch: str
    lon: float
    lat: float
    share: float  # of its branch's reports
    spread_km: float


# Population per branch: census figures carried by the boundaries fixture; Al Udayd has none
# (desert and border posts), so it gets a nominal few thousand.
UDAYD_NOMINAL_POPULATION = 5000
URBAN_CENTRES = [
    UrbanCentre("Dammam", "dammam", 50.10, 26.43, 0.55, 4.0),
    UrbanCentre("Dammam east", "dammam", 50.15, 26.40, 0.25, 3.0),
    UrbanCentre("Dhahran", "dammam", 50.13, 26.29, 0.20, 3.0),
    UrbanCentre("Khobar", "khobar", 50.20, 26.28, 0.70, 3.5),
    UrbanCentre("Khobar south", "khobar", 50.19, 26.22, 0.30, 2.5),
    UrbanCentre("Qatif", "qatif", 50.00, 26.56, 0.35, 2.5),
    UrbanCentre("Saihat", "qatif", 50.04, 26.48, 0.30, 2.0),
    UrbanCentre("Safwa", "qatif", 49.95, 26.65, 0.15, 2.0),
    UrbanCentre("Tarout", "qatif", 50.05, 26.57, 0.20, 1.5),
    UrbanCentre("Ras Tanura", "ras_tanura", 50.16, 26.64, 1.0, 2.5),
    UrbanCentre("Jubail", "jubail", 49.66, 27.01, 0.60, 3.5),
    UrbanCentre("Jubail Industrial City", "jubail", 49.58, 26.95, 0.40, 4.0),
    UrbanCentre("Abqaiq", "abqaiq", 49.67, 25.93, 1.0, 2.0),
    UrbanCentre("Khafji", "khafji", 48.49, 28.42, 1.0, 2.5),
    UrbanCentre("Nairiyah", "nairiyah", 48.48, 27.47, 1.0, 2.0),
    UrbanCentre("Qaryat al Ulya", "qaryat_al_ulya", 47.70, 27.55, 1.0, 1.5),
    UrbanCentre("Al Udayd", "udayd", 53.50, 22.30, 1.0, 5.0),
]
KM_PER_DEGREE = 111.32


@dataclass
class PlantedHotspot:
    category: str
    lon: float
    lat: float
    radius_m: int
    count: int


@dataclass
class DemoYear:
    """The generated rows (as import CSV columns) and the truth they were built from."""

    year: int
    seed: int
    scale: float
    rows: list[dict] = field(default_factory=list)
    hotspots: list[PlantedHotspot] = field(default_factory=list)

    def expected(self) -> dict:
        """The annual figures the statistics must reproduce from the stored reports."""
        by_category: dict[str, dict[str, int]] = {}
        by_channel: dict[str, int] = {}
        for row in self.rows:
            figures = by_category.setdefault(row["top_category"], {"received": 0, "closed": 0})
            figures["received"] += 1
            figures["closed"] += row["status"] == Status.CLOSED
            by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + 1
        return {
            "received": len(self.rows),
            "closed": sum(f["closed"] for f in by_category.values()),
            "processed": sum(row["status"] != Status.NEW for row in self.rows),
            "by_category": by_category,
            "by_channel": by_channel,
        }

    def truth(self) -> dict:
        return {
            "year": self.year,
            "seed": self.seed,
            "scale": self.scale,
            "hotspots": [vars(h) for h in self.hotspots],
            "expected": self.expected(),
        }

    def write_csv(self, path: Path) -> None:
        """The rows in import_reports' CSV format."""
        columns = ["external_id", "lat", "lon", "category", "channel", "created_at", "status",
                   "closed_at", "description"]  # fmt: skip
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)


def _exact_counts(total: int, shares: dict) -> dict:
    """Split total into integer counts by share (largest remainder), summing exactly to total."""
    raw = {key: total * share / sum(shares.values()) for key, share in shares.items()}
    counts = {key: math.floor(value) for key, value in raw.items()}
    for key in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[
        : total - sum(counts.values())
    ]:
        counts[key] += 1
    return counts


class _Area:
    """The loaded branch polygons, for keeping generated points inside the service area."""

    def __init__(self):
        self.branches = {
            code: wkb.loads(bytes(geom.wkb))
            for code, geom in BranchMunicipality.objects.values_list("code", "geom")
        }
        for polygon in self.branches.values():
            shapely.prepare(polygon)

    def inside(self, lon: np.ndarray, lat: np.ndarray, branch: str | None = None) -> np.ndarray:
        polygons = [self.branches[branch]] if branch else self.branches.values()
        mask = np.zeros(len(lon), dtype=bool)
        for polygon in polygons:
            mask |= shapely.contains_xy(polygon, lon, lat)
        return mask


def _scatter(rng, area: _Area, centres: list[UrbanCentre], n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points around the given centres (chosen by share), redrawn until inside their branch."""
    lon, lat = np.empty(n), np.empty(n)
    pending = np.arange(n)
    which = rng.choice(
        len(centres), size=n, p=np.array([c.share for c in centres]) / sum(c.share for c in centres)
    )
    while pending.size:
        for index, centre in enumerate(centres):
            rows = pending[which[pending] == index]
            if not rows.size:
                continue
            dx, dy = rng.normal(0, centre.spread_km, (2, rows.size))
            lat[rows] = centre.lat + dy / KM_PER_DEGREE
            lon[rows] = centre.lon + dx / (KM_PER_DEGREE * math.cos(math.radians(centre.lat)))
        pending = pending[~area.inside(lon[pending], lat[pending])]
    return lon, lat


def _disk(rng, lon0: float, lat0: float, radius_m: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points uniformly spread over a disk of radius_m metres."""
    r = radius_m * np.sqrt(rng.uniform(0, 1, n)) / 1000
    theta = rng.uniform(0, 2 * math.pi, n)
    lat = lat0 + r * np.sin(theta) / KM_PER_DEGREE
    lon = lon0 + r * np.cos(theta) / (KM_PER_DEGREE * math.cos(math.radians(lat0)))
    return lon, lat


def _branch_weights() -> dict[str, float]:
    population = dict(BranchMunicipality.objects.values_list("code", "population"))
    return {code: float(pop or UDAYD_NOMINAL_POPULATION) for code, pop in population.items()}


def _hotspot_centre(
    rng, area: _Area, centres: list[UrbanCentre], radius: int
) -> tuple[float, float]:
    """A planted hotspot's centre: 1-8 km from an urban centre, with its whole disk inside."""
    while True:
        hub = centres[
            rng.choice(
                len(centres),
                p=np.array([c.share for c in centres]) / sum(c.share for c in centres),
            )
        ]
        distance, bearing = rng.uniform(1, 8), rng.uniform(0, 2 * math.pi)
        lat0 = hub.lat + distance * math.sin(bearing) / KM_PER_DEGREE
        lon0 = hub.lon + distance * math.cos(bearing) / (
            KM_PER_DEGREE * math.cos(math.radians(hub.lat))
        )
        ring_lon, ring_lat = _disk(rng, lon0, lat0, radius, 64)
        if area.inside(ring_lon, ring_lat).all():
            return lon0, lat0


def _locations(
    rng, *, area: _Area, centres: list[UrbanCentre], code: str, n: int, demo: DemoYear
) -> tuple[np.ndarray, np.ndarray]:
    """Where a category's n reports are: planted hotspots first (recorded in `demo`), the rest
    around the urban centres."""
    lon_parts, lat_parts = [], []
    for _ in range(HOTSPOTS_PER_CATEGORY):
        size = max(5, round(n * rng.uniform(*HOTSPOT_SHARE_OF_CATEGORY)))
        radius = int(rng.integers(*HOTSPOT_RADIUS_M))
        lon0, lat0 = _hotspot_centre(rng, area, centres, radius)
        demo.hotspots.append(PlantedHotspot(code, round(lon0, 6), round(lat0, 6), radius, size))
        lon, lat = _disk(rng, lon0, lat0, radius, size)
        lon_parts.append(lon)
        lat_parts.append(lat)
    rest = n - sum(len(part) for part in lon_parts)
    lon, lat = _scatter(rng, area, centres, rest)
    return np.concatenate([*lon_parts, lon]), np.concatenate([*lat_parts, lat])


@dataclass
class _Year:
    """The calendar of the demo year: its first instant, its days and their weights."""

    start: datetime
    days: int
    day_weights: np.ndarray
    hour_weights: np.ndarray

    @classmethod
    def of(cls, year: int) -> "_Year":
        start = datetime(year, 1, 1, tzinfo=RIYADH)
        days = (datetime(year + 1, 1, 1, tzinfo=RIYADH) - start).days
        day_weights = np.array(
            [WEEKDAY_WEIGHTS[(start + timedelta(days=d)).weekday()] for d in range(days)]
        )
        return cls(start, days, day_weights, np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS))

    def times(self, rng, n: int) -> tuple[np.ndarray, list[datetime]]:
        """When: a day by weekday weight, an hour by the daily pattern, a random minute."""
        day = rng.choice(self.days, size=n, p=self.day_weights / self.day_weights.sum())
        hour = rng.choice(24, size=n, p=self.hour_weights)
        seconds = rng.integers(0, 3600, size=n)
        created = [
            self.start + timedelta(days=int(d), hours=int(h), seconds=int(s))
            for d, h, s in zip(day, hour, seconds, strict=True)
        ]
        return day, created


def _statuses(
    rng, *, code: str, day: np.ndarray, days: int, created: list[datetime], new_n: int
) -> np.ndarray:
    """Status: the open ones are mostly recent; the newest of them are still new."""
    n = len(created)
    closed_n = round(CLOSURE_RATES[code] * n)
    recency = np.exp((day - days) / OPEN_RECENCY_DAYS)
    open_rows = rng.choice(n, size=n - closed_n, replace=False, p=recency / recency.sum())
    open_rows = open_rows[np.argsort([created[i] for i in open_rows])[::-1]]
    status = np.full(n, Status.CLOSED, dtype=object)
    status[open_rows[:new_n]] = Status.NEW
    in_hand = _exact_counts(len(open_rows) - new_n, IN_HAND_SHARES)
    in_hand_rows = open_rows[new_n:]
    rng.shuffle(in_hand_rows)
    status[in_hand_rows] = np.repeat(list(in_hand), list(in_hand.values()))
    return status


def _closed_at(rng, *, created: datetime, specific: Category) -> str:
    """A closed report's closing time: a log-normal resolution time around its SLA share."""
    hours = max(
        0.25,
        rng.lognormal(math.log(RESOLUTION_MEDIAN_SLA_SHARE * specific.sla_hours), RESOLUTION_SIGMA),
    )
    return min(created + timedelta(hours=hours), datetime.now(UTC)).isoformat()


def demo_year_generate(*, year: int, seed: int, scale: float = 1.0) -> DemoYear:
    """Generate the demo year's reports (nothing is stored: see the generate_demo_data command)."""
    rng = np.random.default_rng(seed)
    area = _Area()
    weights = _branch_weights()
    # Each centre's share of all reports = its branch's population share times its share in it.
    centres = [
        UrbanCentre(c.name, c.branch, c.lon, c.lat, weights.get(c.branch, 0) * c.share, c.spread_km)
        for c in URBAN_CENTRES
        if c.branch in area.branches
    ]
    categories = {c.code: c for c in Category.objects.filter(parent__isnull=True)}
    subcategories = {
        code: list(Category.objects.filter(parent__code=code).order_by("sort_order"))
        for code in CATEGORY_COUNTS
    }
    demo = DemoYear(year=year, seed=seed, scale=scale)
    counts = {code: round(n * scale) for code, n in CATEGORY_COUNTS.items()}
    total = sum(counts.values())
    calendar = _Year.of(year)

    new_total = total - round(PROCESSED_RATE * total)
    not_closed = {code: n - round(CLOSURE_RATES[code] * n) for code, n in counts.items()}
    new_by_category = _exact_counts(new_total, not_closed)
    channels = np.repeat(list(CHANNEL_SHARES), list(_exact_counts(total, CHANNEL_SHARES).values()))
    rng.shuffle(channels)
    offset = 0

    # The random draws keep their order (locations, times, subcategories, statuses, closing
    # times, category by category): the same seed must give the same year as before.
    for code, n in counts.items():
        category = categories[code]
        subs = subcategories[code]
        lon, lat = _locations(rng, area=area, centres=centres, code=code, n=n, demo=demo)
        day, created = calendar.times(rng, n)

        # What: a subcategory by fixed popularity weights, a few against the category itself.
        popularity = np.array([0.35, 0.25, 0.18, 0.13, 0.09][: len(subs)])
        which = rng.choice(len(subs), size=n, p=popularity / popularity.sum())
        no_sub = rng.uniform(0, 1, n) < NO_SUBCATEGORY_SHARE

        status = _statuses(
            rng, code=code, day=day, days=calendar.days, created=created,
            new_n=new_by_category[code],
        )  # fmt: skip

        for i in range(n):
            specific = category if no_sub[i] else subs[which[i]]
            closed = status[i] == Status.CLOSED
            demo.rows.append(
                {
                    "external_id": f"demo-{year}-{seed}-x{scale:g}-{offset + i:08d}",
                    "lon": f"{lon[i]:.6f}",
                    "lat": f"{lat[i]:.6f}",
                    "top_category": code,
                    "category": specific.code,
                    "channel": channels[offset + i],
                    "created_at": created[i].isoformat(),
                    "status": status[i],
                    "closed_at": (
                        _closed_at(rng, created=created[i], specific=specific) if closed else ""
                    ),
                    "description": f"{specific.name_ar} — {specific.name_en}",
                }
            )
        offset += n
    return demo
