"""Benchmark: bulk import of 1,000,000 report rows, ours against the geopandas pipeline.

Target (issue 2, "Performance"): at least 50,000 rows/s end to end (1M rows in at most 20 s),
including the spatial join and every index of the reports table, and at least 2x the pipeline a
user would otherwise write with geopandas, on the same rows in the same run. And (issue 13) as
a user runs it, process start-up included: 200,000 rows (BENCH_BULK_E2E_ROWS), 40 % of them
outside the service area, `manage.py import_reports FILE --commit` at least as fast (>= 1x) as
the geopandas script a user would write instead, followed by the four indexes its table needs.

What it does, on a database of its own (BENCH_BULK_DATABASE_URL, default geo_ops_bench on
DATABASE_URL's server; it refuses a name without "bench", since it empties the reports table):
1. creates the database if needed, migrates, loads the category fixture and the ten real
   Eastern Province branch municipalities (upserts: a second run reuses them; see
   bench/harness.py);
2. writes 1,000,000 realistic rows to a CSV (points around the urban centres and over the
   branches, the seed report's category mix, two years of timestamps, 1.4 % planted faults:
   outside the area, bad coordinates, unknown category, bad or future dates, bad channel,
   duplicated ids, closed before created, over-long descriptions), cached in the temp dir;
3. in a child process (Django set up on the bench database), for each side: empties the
   reports table, CHECKPOINTs, then times file -> committed rows:
   - ours: `reports_import(path=..., commit=True, rejects_path=...)` BENCH_BULK_RUNS times
     (default 3; the median is the figure), then checks the table and the last summary
     (read = inserted + present + rejected, rejects file lines); then, not
     timed against a target, a repeat of the same file (inserts nothing) and an incremental
     load of 100,000 new rows into the full table (indexes kept, the small-load path);
   - geopandas: pandas.read_csv -> validation in pandas -> GeoDataFrame -> gpd.sjoin with the
     branch polygons -> to_postgis appending to the same reports_report (SQLAlchemy +
     GeoAlchemy2), categories mapped to ids with a merge. See `baseline_geopandas`;
   and between the two, the point join against pieces cut at several vertex limits
   (GEO_OPS_SUBDIVIDE_MAX_VERTICES), on scratch tables;
4. end to end (see `end_to_end`), on a second generated file with 40 % of the rows in the Gulf:
   `python manage.py import_reports FILE --commit` into the emptied reports table, against
   `python -m bench.bulk_import geopandas FILE` (the same `baseline_geopandas`, into a table
   of its own, then GiST point, unique external_id, (category, status) and BRIN created_at),
   each timed from process start to exit, interleaved, median of BENCH_BULK_RUNS.
The machine's load average is printed with the results: the benchmark host is shared, and the
other sessions' load slows ours (parallel workers on 2 cores) more than the mostly
single-threaded baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench import harness
from bench.common import Result

NAME = "bulk_import"
ROWS = int(os.environ.get("BENCH_BULK_ROWS", "1000000"))
SEED = 940
BRANCHES_FIXTURE = harness.REPO / harness.BRANCHES_FIXTURE

# Urban centres (lon, lat, weight, spread in degrees): reports cluster where people live. The
# remaining share is spread uniformly over every branch municipality (villages, roads, desert).
CENTRES = [
    (50.10, 26.43, 0.26, 0.035),  # Dammam
    (50.21, 26.28, 0.19, 0.025),  # Khobar
    (50.00, 26.56, 0.14, 0.025),  # Qatif
    (49.66, 27.00, 0.12, 0.040),  # Jubail
    (50.16, 26.64, 0.04, 0.015),  # Ras Tanura
    (48.49, 28.42, 0.04, 0.020),  # Khafji
    (49.67, 25.93, 0.03, 0.015),  # Abqaiq
    (48.49, 27.47, 0.03, 0.015),  # Nuayriyah
    (47.70, 27.55, 0.02, 0.015),  # Qaryat al Ulya
]
UNIFORM_SHARE = 0.13
# Rows that must be rejected, as shares of all rows (the rest are valid).
BAD_SHARES = {
    "outside_service_area": 0.008,
    "invalid_coordinates": 0.002,
    "unknown_category": 0.001,
    "invalid_created_at": 0.001,
    "future_created_at": 0.0005,
    "invalid_channel": 0.0005,
    "duplicate_external_id": 0.0005,
    "closed_before_created": 0.0005,
    "description_too_long": 0.0001,
}
SUBCATEGORIES = {
    # category: (share of reports from the seed report, its subcategory codes)
    "markets_public_health": (
        4006,
        [
            "unlicensed_vendor",
            "food_hygiene",
            "expired_food",
            "shop_licence_violation",
            "market_cleanliness",
        ],
    ),
    "environmental_sanitation": (
        2142,
        ["mosquitoes", "rodents", "stagnant_water", "insects", "stray_animals"],
    ),
    "public_cleanliness": (
        4367,
        ["overflowing_bins", "construction_debris", "litter", "dead_animal", "abandoned_vehicle"],
    ),
    "parks_facilities": (
        564,
        [
            "damaged_playground",
            "irrigation_leak",
            "damaged_benches",
            "public_toilets",
            "tree_pruning",
        ],
    ),
    "roads_networks": (
        3174,
        [
            "pothole",
            "missing_manhole_cover",
            "damaged_sidewalk",
            "stormwater_drain",
            "open_excavation",
        ],
    ),
    "lighting_billboards": (
        3281,
        [
            "street_light_out",
            "damaged_light_pole",
            "exposed_wiring",
            "damaged_billboard",
            "unlicensed_billboard",
        ],
    ),
}
CHANNELS = {"hotline_940": 0.58, "app": 0.24, "web": 0.08, "social": 0.06, "staff": 0.04}
STATUSES = {
    "closed": 0.62,
    "resolved": 0.12,
    "new": 0.08,
    "assigned": 0.06,
    "in_progress": 0.06,
    "rejected": 0.03,
    "duplicate": 0.03,
}
FINAL = {"closed", "resolved", "rejected", "duplicate"}
DESCRIPTIONS = [
    "",
    "",
    "Overflowing container near the mosque",
    "حاوية ممتلئة بجوار المسجد",
    "Street light out for three nights",
    "إنارة الشارع مطفأة منذ ثلاث ليال",
    "Pothole in the right lane, dangerous at night",
    "حفرة في المسار الأيمن",
    'Vendor selling fish without licence, "Souq" entrance',
    "Stagnant water, mosquitoes",
    "Construction debris dumped on the sidewalk,\nblocking pedestrians",
]


def generate_csv(
    path: Path,
    rows: int = ROWS,
    seed: int = SEED,
    id_prefix: str = "AMN-",
    bad_shares: dict[str, float] | None = None,
) -> dict[str, int]:
    """Write `rows` realistic report rows to a CSV; returns how many of each bad kind it holds.

    Vectorised (numpy/shapely), about a second per 200,000 rows. Valid points are drawn around
    the urban centres or uniformly over the branches and kept only when inside a branch polygon,
    so "outside the service area" rejects are exactly the ones planted (`bad_shares`, by default
    BAD_SHARES).
    """
    rng = np.random.default_rng(seed)
    lon, lat = _draw_points(rng, rows)
    frame = _valid_rows(rng, lon, lat, id_prefix)
    counts = _plant_faults(rng, frame, BAD_SHARES if bad_shares is None else bad_shares)
    frame.to_csv(path, index=False)
    return counts


def _draw_points(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """`rows` points inside the branches: around the urban centres, the rest uniform."""
    import geopandas as gpd
    import shapely

    branches = gpd.read_file(BRANCHES_FIXTURE)
    area = shapely.union_all(branches.geometry.values)
    shapely.prepare(area)
    xmin, ymin, xmax, ymax = area.bounds
    weights = np.array([c[2] for c in CENTRES] + [UNIFORM_SHARE])

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        which = rng.choice(len(weights), size=n, p=weights / weights.sum())
        lon = np.empty(n)
        lat = np.empty(n)
        for i, (x, y, _, spread) in enumerate(CENTRES):
            mask = which == i
            lon[mask] = rng.normal(x, spread, mask.sum())
            lat[mask] = rng.normal(y, spread, mask.sum())
        mask = which == len(CENTRES)
        lon[mask] = rng.uniform(xmin, xmax, mask.sum())
        lat[mask] = rng.uniform(ymin, ymax, mask.sum())
        inside = shapely.contains_xy(area, lon, lat)
        return lon[inside], lat[inside]

    lons, lats, have = [], [], 0
    while have < rows:
        lon, lat = draw(int((rows - have) * 1.4) + 1000)
        lons.append(lon)
        lats.append(lat)
        have += len(lon)
    return np.concatenate(lons)[:rows], np.concatenate(lats)[:rows]


def _valid_rows(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, id_prefix: str
) -> pd.DataFrame:
    """Valid rows at the points: the seed report's category and channel mix, two years of
    timestamps in time order, closing times for the final statuses."""
    rows = len(lon)
    # Categories: the seed report's shares; 85 % of rows name a subcategory, 15 % only the
    # top-level category.
    cats = list(SUBCATEGORIES)
    cat_weights = np.array([SUBCATEGORIES[c][0] for c in cats], dtype=float)
    cat_idx = rng.choice(len(cats), size=rows, p=cat_weights / cat_weights.sum())
    sub_idx = rng.integers(0, 5, size=rows)
    codes = np.array([[c] + SUBCATEGORIES[c][1] for c in cats])
    use_sub = rng.random(rows) < 0.85
    category = codes[cat_idx, np.where(use_sub, sub_idx + 1, 0)]

    channel = rng.choice(list(CHANNELS), size=rows, p=list(CHANNELS.values()))
    status = rng.choice(list(STATUSES), size=rows, p=list(STATUSES.values()))
    # Two years of reports, in time order as a source system exports them.
    start = np.datetime64("2024-01-01T00:00:00")
    seconds = np.sort(rng.integers(0, 2 * 365 * 86400, size=rows))
    created = start + seconds.astype("timedelta64[s]")
    closed = created + rng.integers(600, 10 * 86400, size=rows).astype("timedelta64[s]")
    created_s = np.datetime_as_string(created, unit="s").astype(object)
    # A fifth of the rows carry an explicit offset, the rest are local (Asia/Riyadh) time.
    with_offset = rng.random(rows) < 0.2
    created_s[with_offset] = created_s[with_offset] + "+03:00"
    created_s = np.char.replace(created_s.astype(str), "T", " ")
    closed_s = np.where(
        np.isin(status, list(FINAL)), np.datetime_as_string(closed, unit="s"), ""
    ).astype(object)
    description = rng.choice(np.array(DESCRIPTIONS, dtype=object), size=rows)
    external_id = np.char.add(id_prefix, np.char.zfill(np.arange(1, rows + 1).astype(str), 8))
    return pd.DataFrame(
        {
            "external_id": external_id.astype(object),
            "lat": np.char.mod("%.6f", lat).astype(object),
            "lon": np.char.mod("%.6f", lon).astype(object),
            "category": category,
            "channel": channel,
            "created_at": created_s.astype(object),
            "status": status,
            "closed_at": closed_s,
            "description": description,
        }
    )


def _plant_faults(
    rng: np.random.Generator, frame: pd.DataFrame, shares: dict[str, float]
) -> dict[str, int]:
    """Plant the bad rows at random positions, each row at most one fault; how many of each."""
    counts: dict[str, int] = {}
    positions = rng.permutation(len(frame))
    offset = 0
    for kind, share in shares.items():
        n = max(1, int(len(frame) * share))
        idx = positions[offset : offset + n]
        offset += n
        counts[kind] = n
        _FAULTS[kind](rng, frame, idx)
        if kind == "duplicate_external_id":
            counts[kind] = int(frame.external_id.duplicated().sum())
    return counts


def _outside(rng, frame, idx) -> None:
    # The open Gulf between the coast and Bahrain.
    frame.loc[idx, "lon"] = np.char.mod("%.6f", rng.uniform(50.62, 50.85, len(idx)))
    frame.loc[idx, "lat"] = np.char.mod("%.6f", rng.uniform(26.40, 26.80, len(idx)))


def _set(column: str, value: str):
    def plant(rng, frame, idx) -> None:
        frame.loc[idx, column] = value

    return plant


def _one_of(column: str, values: list[str]):
    def plant(rng, frame, idx) -> None:
        frame.loc[idx, column] = rng.choice(np.array(values, dtype=object), len(idx))

    return plant


def _duplicate_id(rng, frame, idx) -> None:
    # Repeat the id of the row before (which is itself valid or rejected for its own reason);
    # the later occurrence is the duplicate.
    frame.loc[idx, "external_id"] = frame.loc[np.maximum(idx - 1, 0), "external_id"].values


def _closed_before_created(rng, frame, idx) -> None:
    frame.loc[idx, "status"] = "closed"
    frame.loc[idx, "closed_at"] = "2023-12-31 23:00:00"


# How each kind of BAD_SHARES is planted: (rng, frame, row positions).
_FAULTS = {
    "outside_service_area": _outside,
    "invalid_coordinates": _one_of("lat", ["", "abc", "NaN", "95.5", "26,43"]),
    "unknown_category": _set("category", "graffiti"),
    "invalid_created_at": _one_of(
        "created_at", ["2024-02-30 10:00:00", "yesterday", "", "31/12/2024"]
    ),
    "future_created_at": _set("created_at", "2099-01-01 08:00:00"),
    "invalid_channel": _set("channel", "fax"),
    "duplicate_external_id": _duplicate_id,
    "closed_before_created": _closed_before_created,
    "description_too_long": _set("description", "x" * 4001),
}


# --------------------------------------------------------------------------- set-up

GENERATOR_VERSION = 1  # bump when generate_csv changes, to invalidate cached files
INCREMENTAL_ROWS = max(1000, ROWS // 10)
RUNS = int(os.environ.get("BENCH_BULK_RUNS", "3"))  # our imports of the file; the median counts
TARGET_ROWS_PER_S = 50_000
TARGET_RATIO = 2.0
# The issue's "measured here for orientation" figure for a plain COPY into an unlogged staging
# table, the yardstick of the host speed row (see host_copy_rate).
ISSUE_COPY_RATE = 1_000_000
CHUNK = 100_000  # rows per to_postgis chunk (one COPY each)


DATABASE_URL = harness.database_url("BENCH_BULK_DATABASE_URL", "geo_ops_bench")
# The size a user runs end to end (process start-up included), ours against their script.
E2E_ROWS = int(os.environ.get("BENCH_BULK_E2E_ROWS", "200000"))
E2E_OUTSIDE = 0.40  # share of the rows outside the service area
E2E_TARGET_RATIO = 1.0
E2E_TABLE = "bench_geopandas_reports"  # the table the user's script writes (replaced each run)


def _csv(
    rows: int, seed: int, prefix: str, outside: float | None = None
) -> tuple[Path, dict[str, int]]:
    """The generated file, cached in the temp dir by its parameters; `outside` replaces
    BAD_SHARES' share of rows outside the service area."""
    shares = dict(BAD_SHARES)
    name = f"geo_ops_bulk_v{GENERATOR_VERSION}_{prefix}{rows}_{seed}"
    if outside is not None:
        shares["outside_service_area"] = outside
        name += f"_outside{outside:g}"
    path = Path(tempfile.gettempdir()) / f"{name}.csv"
    counts_path = path.with_suffix(".json")
    if not (path.exists() and counts_path.exists()):
        partial = path.with_suffix(".partial")
        counts = generate_csv(partial, rows=rows, seed=seed, id_prefix=prefix, bad_shares=shares)
        partial.replace(path)
        counts_path.write_text(json.dumps(counts))
    return path, json.loads(counts_path.read_text())


# --------------------------------------------------------------------------- the two sides


def _empty_reports(cursor) -> None:
    """An empty reports table (and a clean checkpoint, so that no run inherits another's)."""
    cursor.execute("TRUNCATE reports_report, reports_importbatch CASCADE")
    cursor.execute("VACUUM ANALYZE reports_report")
    _checkpoint(cursor)


def _checkpoint(cursor) -> None:
    try:
        cursor.execute("CHECKPOINT")  # superuser or pg_checkpoint; only a fairness nicety
    except Exception:  # noqa: BLE001
        cursor.connection.rollback()


def ours(path: Path, tmp: Path) -> dict:
    """reports_import end to end, checked against the table; plus the repeat and a small load."""
    from django.db import connection

    from geo_ops.reports.bulk import reports_import
    from geo_ops.reports.models import ImportBatch, Report

    rejects = tmp / "rejects.csv"
    # RUNS imports into the emptied table: the host is shared, and one run can be slowed by a
    # neighbour by 20 %; the median is the figure, every run is in the note.
    runs = []
    for _ in range(RUNS):
        with connection.cursor() as cursor:
            _empty_reports(cursor)
        started = time.perf_counter()
        summary = reports_import(path=path, commit=True, rejects_path=rejects, actor_label="bench")
        runs.append((time.perf_counter() - started, summary))
    # The checks on the last run (the table and its batch are still there), the figures of
    # the median run (each run reads, inserts and rejects the same rows).
    summary = runs[-1][1]
    seconds, timings = sorted(((t, run.timings) for t, run in runs), key=lambda r: r[0])[
        len(runs) // 2
    ]
    stored = Report.objects.count()
    batch = ImportBatch.objects.get(pk=summary.batch_id)
    with rejects.open(encoding="utf-8") as handle:
        import csv

        reject_rows = sum(1 for _ in csv.reader(handle)) - 1
    checks = {
        "stored == inserted": stored == summary.inserted,
        "read == inserted + present + rejected": summary.read
        == summary.inserted + summary.already_present + summary.rejected,
        "rejects file rows == rejected": reject_rows == summary.rejected,
        "batch counts": (batch.rows_read, batch.rows_inserted, batch.rows_rejected)
        == (summary.read, summary.inserted, summary.rejected),
    }
    result = {
        "seconds": seconds,
        "runs": [run_seconds for run_seconds, _ in runs],
        "read": summary.read,
        "inserted": summary.inserted,
        "rejected": summary.rejected,
        "rejected_by_reason": summary.rejected_by_reason,
        "rebuilt_indexes": summary.rebuilt_indexes,
        "timings": timings,
        "checks": checks,
    }
    # The same file again: nothing new (external_id), and how long it takes to find that out.
    started = time.perf_counter()
    again = reports_import(path=path, commit=True, actor_label="bench")
    result["repeat"] = {
        "seconds": time.perf_counter() - started,
        "inserted": again.inserted,
        "already_present": again.already_present,
        "stored": Report.objects.count(),
    }
    # A small load into the full table: the path that keeps the indexes.
    small, _ = _csv(INCREMENTAL_ROWS, SEED + 1, "INC-")
    started = time.perf_counter()
    more = reports_import(path=small, commit=True, actor_label="bench")
    result["incremental"] = {
        "seconds": time.perf_counter() - started,
        "read": more.read,
        "inserted": more.inserted,
        "rebuilt_indexes": more.rebuilt_indexes,
        "timings": more.timings,
    }
    return result


def app_rules() -> dict:
    """The app's row rules the baseline applies too (a user's script would spell them out):
    the channels, the statuses and the longest description. Needs Django set up."""
    from django.conf import settings

    from geo_ops.reports.models import Channel, Status

    return {
        "channels": list(Channel.values),
        "statuses": list(Status.values),
        "description_max": settings.GEO_OPS_DESCRIPTION_MAX_CHARS,
    }


def baseline_geopandas(path: Path, *, rules: dict, table: str = "reports_report") -> dict:
    """What a user would otherwise write: pandas + geopandas + to_postgis, given a fair shot.

    The same validation as ours, vectorised in pandas (no row loop): coordinates, duplicates,
    category (a subcategory code -> its parent), channel, status, timestamps (local time when
    no offset), closed_at rules, description length (`rules`, see app_rules); the branch by
    gpd.sjoin against the subdivided branch pieces the app keeps (measured on these 1M points:
    ~1 s, against ~87 s on the ten full polygons, whose 1,000-15,000-vertex rings every test
    walks); then the rows go through to_postgis's own path, chunks of CHUNK rows each streamed
    through COPY, the fastest pandas offers (see the note at _copy_chunk):
    - into reports_report (appended, with its indexes and an import batch row, as ours), or
    - into a `table` of its own, replaced, then the four indexes such a table needs, built
      after the load (GiST on the point, unique external id, category and status, BRIN on the
      time): the script a user runs instead of `manage.py import_reports` (`python -m
      bench.bulk_import geopandas`, see end_to_end).
    """
    import sqlalchemy as sa

    engine = sa.create_engine(
        harness.dsn(DATABASE_URL).replace("postgresql://", "postgresql+psycopg2://")
    )
    started = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    read = len(frame)
    joined = _gpd_join(_gpd_valid(frame, rules), engine)
    own_table = table != "reports_report"
    batch_id = None if own_table else _gpd_batch(engine, path, read)
    out = _gpd_rows(joined, batch_id)
    _gpd_write(out, engine, table, replace=own_table)
    if own_table:
        _gpd_indexes(engine, table)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        stored = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return {"seconds": seconds, "read": read, "inserted": len(out), "stored": stored}


def _gpd_valid(frame: pd.DataFrame, rules: dict) -> pd.DataFrame:
    """The rows that pass the app's rules, with parsed coordinates and timestamps."""
    lat = pd.to_numeric(frame["lat"].str.strip(), errors="coerce")
    lon = pd.to_numeric(frame["lon"].str.strip(), errors="coerce")
    frame["external_id"] = frame["external_id"].str.strip()
    keep = lat.between(-90, 90) & lon.between(-180, 180) & (frame["external_id"] != "")
    keep &= ~frame["external_id"].duplicated(keep="first")
    frame["channel"] = frame["channel"].str.strip().str.lower()
    frame["status"] = frame["status"].str.strip().str.lower().replace("", "new")
    keep &= frame["channel"].isin(rules["channels"]) & frame["status"].isin(rules["statuses"])
    keep &= frame["description"].str.len() <= rules["description_max"]

    def timestamps(texts: pd.Series) -> pd.Series:
        texts = texts.str.strip()
        parsed = pd.to_datetime(texts, format="ISO8601", errors="coerce", utc=True)
        local = ~texts.str.contains(r"(?:Z|[+-]\d\d(?::?\d\d)?)$", regex=True)
        # Without an offset the text is Riyadh time (UTC+3, no daylight saving).
        return parsed.where(~local, parsed - pd.Timedelta(hours=3))

    created = timestamps(frame["created_at"])
    closed = timestamps(frame["closed_at"])
    now = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5)
    final = frame["status"].isin(["resolved", "closed", "rejected", "duplicate"])
    has_closed = frame["closed_at"].str.strip() != ""
    keep &= created.notna() & (created <= now)
    keep &= ~has_closed | (closed.notna() & final & (closed >= created) & (closed <= now))
    frame = frame.assign(created_at=created, closed_at=closed.where(has_closed), lon=lon, lat=lat)
    return frame[keep]


def _gpd_join(frame: pd.DataFrame, engine):
    """Categories merged in (a subcategory -> its parent, SLA due time), then the points joined
    to the branch pieces; rows outside every branch drop out."""
    import geopandas as gpd

    categories = pd.read_sql(
        "SELECT id, code, parent_id, default_priority, sla_hours FROM reports_category "
        "WHERE active",
        engine,
    )
    frame = frame.merge(categories, left_on=frame["category"].str.strip(), right_on="code")
    frame["category_id"] = frame["parent_id"].fillna(frame["id"]).astype("int64")
    frame["subcategory_id"] = frame["id"].where(frame["parent_id"].notna()).astype("Int64")
    frame["due_at"] = frame["created_at"] + pd.to_timedelta(frame["sla_hours"], unit="h")

    points = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326
    )
    pieces = gpd.read_postgis(
        "SELECT branch_id, geom FROM layers_branchmunicipalitypiece", engine, geom_col="geom"
    )
    joined = gpd.sjoin(points, pieces, how="inner", predicate="intersects")
    # A point on a shared edge matches twice: the lowest branch id wins, as in the app.
    joined = joined.sort_values("branch_id", kind="stable")
    return joined[~joined.index.duplicated(keep="first")]


def _gpd_batch(engine, path: Path, read: int) -> int:
    """The import batch row the reports point to (as ours writes one)."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "INSERT INTO reports_importbatch (source, actor, started_at, rows_read, "
                "rows_inserted, rows_already_present, rows_rejected) "
                "VALUES (:source, 'geopandas', now(), :read, 0, 0, 0) RETURNING id"
            ),
            {"source": str(path), "read": read},
        ).scalar_one()


def _gpd_rows(joined, batch_id: int | None) -> pd.DataFrame:
    """The joined rows as reports_report's columns (without import_batch_id when None)."""
    import shapely

    now_ts = pd.Timestamp.now(tz="UTC")
    out = pd.DataFrame(
        {
            # What to_postgis sends for a geometry: hex EWKB with the SRID.
            "location": shapely.to_wkb(
                shapely.set_srid(joined.geometry.values, 4326), hex=True, include_srid=True
            ),
            "address": "",
            "description": joined["description"].str.strip().values,
            "media_url": "",
            "channel": joined["channel"].values,
            "status": joined["status"].values,
            "priority": joined["default_priority"].values,
            "external_id": joined["external_id"].values,
            "created_at": joined["created_at"].values,
            "updated_at": now_ts,
            "closed_at": joined["closed_at"].values,
            "due_at": joined["due_at"].values,
            "branch_id": joined["branch_id"].values,
            "district_id": pd.array([None] * len(joined), dtype="Int64"),
            "category_id": joined["category_id"].values,
            "subcategory_id": joined["subcategory_id"].values,
        }
    )
    if batch_id is not None:
        out["import_batch_id"] = batch_id
    return out


def _gpd_write(out: pd.DataFrame, engine, table: str, *, replace: bool) -> None:
    """to_postgis's path: EWKB, then pandas to_sql with a COPY per chunk (_copy_chunk)."""
    from geoalchemy2 import Geometry

    out.to_sql(
        table,
        engine,
        if_exists="replace" if replace else "append",
        index=False,
        chunksize=CHUNK,
        method=_copy_chunk,
        # A new table gets its spatial index after the load (_gpd_indexes), not before it.
        dtype={"location": Geometry("POINT", srid=4326, spatial_index=not replace)},
    )


def _gpd_indexes(engine, table: str) -> None:
    """The four indexes a reports table needs, built after the load."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        for statement in (
            f"CREATE INDEX ON {table} USING gist (location)",
            f"CREATE UNIQUE INDEX ON {table} (external_id)",
            f"CREATE INDEX ON {table} (category_id, status)",
            f"CREATE INDEX ON {table} USING brin (created_at)",
        ):
            conn.execute(sa.text(statement))


def _copy_chunk(table, conn, keys, data_iter) -> int:
    """pandas to_sql `method`: one COPY per chunk (geopandas' own, plus FORCE_NOT_NULL).

    to_postgis's COPY reads an empty string as NULL, which the NOT NULL text columns of
    reports_report refuse (address, media_url, an empty description), so the COPY says
    FORCE_NOT_NULL for them. That is the change a user makes after the first NotNullViolation.
    """
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows(data_iter)
    buffer.seek(0)
    columns = ", ".join(f'"{k}"' for k in keys)
    texts = ", ".join(k for k in keys if k in ("address", "media_url", "description"))
    with conn.connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {table.name} ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({texts}))",
            buffer,
        )
        return cursor.rowcount


SUBDIVIDE_VALUES = (32, 64, 128, 256, 512, 2048)


def subdivide_sweep() -> list[dict]:
    """The point join against pieces cut at several GEO_OPS_SUBDIVIDE_MAX_VERTICES values.

    On the reports just imported (a 20 % sample) and scratch piece tables, so the layer tables
    are not touched: the set-based join of the import (each piece probes the points' index) and
    the per-point probe of boundary_join_sql that the live intake uses.
    """
    from django.conf import settings
    from django.db import connection

    from layers.selectors import boundary_join_sql

    rows = []
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE sweep_points AS SELECT id, location FROM reports_report "
            "TABLESAMPLE SYSTEM (20) REPEATABLE (1)"
        )
        cursor.execute("CREATE INDEX ON sweep_points USING gist (location)")
        cursor.execute("CREATE TEMP TABLE sweep_sample AS SELECT * FROM sweep_points LIMIT 20000")
        cursor.execute("ANALYZE sweep_points, sweep_sample")
        cursor.execute("SELECT count(*) FROM sweep_points")
        points = cursor.fetchone()[0]
        probe_sql = boundary_join_sql(point_sql="s.location")
        probe_sql = probe_sql.replace("layers_branchmunicipalitypiece", "sweep_pieces")
        probe_sql = probe_sql.replace("layers_districtpiece", "sweep_district_pieces")
        cursor.execute(
            "CREATE TEMP TABLE sweep_district_pieces (district_id bigint, geom geometry)"
        )
        for vertices in SUBDIVIDE_VALUES:
            cursor.execute("DROP TABLE IF EXISTS sweep_pieces")
            cursor.execute(
                "CREATE TEMP TABLE sweep_pieces AS SELECT id AS branch_id, "
                "ST_Subdivide(geom, %s) AS geom FROM layers_branchmunicipality",
                [vertices],
            )
            cursor.execute("CREATE INDEX ON sweep_pieces USING gist (geom)")
            cursor.execute("ANALYZE sweep_pieces")
            cursor.execute("SELECT count(*) FROM sweep_pieces")
            pieces = cursor.fetchone()[0]
            started = time.perf_counter()
            cursor.execute(
                """SELECT count(*) FROM (
                    SELECT p.id, min(piece.branch_id) FROM sweep_pieces AS piece
                    CROSS JOIN LATERAL (
                        SELECT pt.id FROM sweep_points AS pt
                        WHERE ST_Intersects(piece.geom, pt.location) OFFSET 0
                    ) AS p GROUP BY p.id) AS q"""
            )
            set_join = time.perf_counter() - started
            started = time.perf_counter()
            cursor.execute(
                f"SELECT count(branch_join.branch_id) FROM sweep_sample AS s {probe_sql}"
            )
            probe = time.perf_counter() - started
            rows.append(
                {
                    "vertices": vertices,
                    "pieces": pieces,
                    "set_join_points_per_s": points / set_join,
                    "probe_us": probe / 20000 * 1e6,
                    "setting": settings.GEO_OPS_SUBDIVIDE_MAX_VERTICES,
                }
            )
        cursor.execute("DROP TABLE sweep_points, sweep_sample, sweep_pieces, sweep_district_pieces")
    return rows


def host_copy_rate(csv_path: Path, runs: int = 3) -> float:
    """Rows/s of a plain COPY of the file into an UNLOGGED table of text columns (median of
    `runs`): the issue's own orientation figure for this machine ("~1M rows/s"), measured in
    the same run, so that a slower or busier host shows as such next to the targets."""
    from django.db import connection

    rates = []
    with connection.cursor() as cursor, csv_path.open("rb") as handle:
        header = handle.readline().decode().strip().split(",")
        columns = ", ".join(f"c{i} text" for i in range(len(header)))
        for _ in range(runs):
            handle.seek(0)
            handle.readline()
            cursor.execute(f"CREATE UNLOGGED TABLE bench_host_copy ({columns})")
            started = time.perf_counter()
            cursor.copy_expert("COPY bench_host_copy FROM STDIN WITH (FORMAT csv)", handle)
            rates.append(cursor.rowcount / (time.perf_counter() - started))
            cursor.execute("DROP TABLE bench_host_copy")
    return sorted(rates)[len(rates) // 2]


def end_to_end(path: Path) -> dict:
    """Ours and the user's script on the same file, each as a user runs it: a process timed
    from start to exit (wall clock), each into an empty table, interleaved run by run so that a
    busy neighbour slows both alike; RUNS of each, the medians are the figures.

    Ours: `python manage.py import_reports FILE --commit`. Theirs: `python -m bench.bulk_import
    geopandas FILE`, baseline_geopandas into a table of its own (E2E_TABLE) with its four
    indexes. Needs Django set up (it empties the tables between runs).
    """
    from django.db import connection

    env = harness.env(DATABASE_URL)
    rules = json.dumps(app_rules())
    runs: dict[str, list[float]] = {"ours": [], "geopandas": []}
    inside: dict[str, list[float]] = {"ours": [], "geopandas": []}
    for _ in range(RUNS):
        with connection.cursor() as cursor:
            _empty_reports(cursor)
        connection.close()
        seconds, output = _timed("manage.py", "import_reports", str(path), "--commit", env=env)
        runs["ours"].append(seconds)
        # The command's summary says how long the import itself took ("... rows read in 4.2 s").
        said = re.search(r"rows read in ([0-9.]+) s", output)
        if said:
            inside["ours"].append(float(said.group(1)))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {E2E_TABLE}")
            _checkpoint(cursor)
        connection.close()
        seconds, output = _timed(
            *("-m", "bench.bulk_import", "geopandas", str(path), "--rules", rules), env=env
        )
        runs["geopandas"].append(seconds)
        theirs = json.loads(output.splitlines()[-1])
        inside["geopandas"].append(theirs["seconds"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_report")
        stored = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {E2E_TABLE}")
    return {
        "read": theirs["read"],
        "runs": runs,
        "ours_inserted": stored,
        "geopandas_inserted": theirs["stored"],
        "inside_s": {side: statistics.median(t) if t else None for side, t in inside.items()},
    }


def _timed(*args: str, env: dict[str, str]) -> tuple[float, str]:
    """`python *args` from process start to exit: (wall seconds, its stdout)."""
    started = time.perf_counter()
    output = harness.python(*args, env=env)
    return time.perf_counter() - started, output


def _measure(csv_path: Path, out: Path, e2e_path: Path) -> None:
    """Child process: Django on the bench database, both sides, JSON to `out`."""
    harness.django_setup()
    from django.db import connection

    tmp = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    result = {"host_copy_rate": host_copy_rate(csv_path), "ours": ours(csv_path, tmp)}
    result["subdivide"] = subdivide_sweep()
    with connection.cursor() as cursor:
        _empty_reports(cursor)
    connection.close()
    result["geopandas"] = baseline_geopandas(csv_path, rules=app_rules())
    result["end_to_end"] = end_to_end(e2e_path)
    out.write_text(json.dumps(result, default=str))


# --------------------------------------------------------------------------- the run


def run() -> list[Result]:
    load_before = os.getloadavg()
    harness.database_setup(DATABASE_URL)
    csv_path, planted = _csv(ROWS, SEED, "AMN-")
    e2e_path, _ = _csv(E2E_ROWS, SEED, "E2E-", outside=E2E_OUTSIDE)
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        out = Path(tmp) / "result.json"
        harness.python(
            *("-m", "bench.bulk_import", "measure", str(csv_path), str(out), str(e2e_path)),
            env=harness.env(DATABASE_URL),
            capture=False,
        )
        result = json.loads(out.read_text())
    return _results(result, planted, load_before)


def _end_to_end_results(e2e: dict) -> list[Result]:
    ours_s = statistics.median(e2e["runs"]["ours"])
    theirs_s = statistics.median(e2e["runs"]["geopandas"])
    read, ratio = e2e["read"], theirs_s / ours_s
    same = e2e["ours_inserted"] == e2e["geopandas_inserted"]

    def runs(side: str) -> str:
        times = e2e["runs"][side]
        text = f"median of {len(times)} ({', '.join(f'{t:.1f}' for t in times)} s)"
        inside = e2e["inside_s"][side]
        if inside is not None:
            text += f", {inside:.1f} s of it after start-up (median)"
        return text

    return [
        Result(
            NAME,
            f"end to end as a user runs it: {read:,} rows ({E2E_OUTSIDE:.0%} outside the service "
            "area), `manage.py import_reports FILE --commit`, process start to exit",
            read / ours_s,
            "rows/s",
            baseline=f"geopandas script {theirs_s:.1f} s ({read / theirs_s:,.0f} rows/s)",
            note=f"{ours_s:.1f} s, {runs('ours')}; inserted {e2e['ours_inserted']:,} into an "
            "empty reports table",
        ),
        Result(
            NAME,
            f"end to end: geopandas script, {read:,} rows (read_csv -> points -> sjoin -> "
            "to_postgis -> 4 indexes), process start to exit",
            read / theirs_s,
            "rows/s",
            note=f"{theirs_s:.1f} s, {runs('geopandas')}; inserted "
            f"{e2e['geopandas_inserted']:,} into a table of its own; GiST point, unique "
            "external_id, (category, status), BRIN created_at built after the load",
        ),
        Result(
            NAME,
            f"end to end, {read:,} rows: ours / geopandas",
            ratio,
            "x",
            target=f">= {E2E_TARGET_RATIO:g}x",
            met=ratio >= E2E_TARGET_RATIO and same,
            note="same rows inserted by both"
            if same
            else "**the two sides inserted different rows**",
        ),
    ]


def _results(result: dict, planted: dict[str, int], load_before: tuple) -> list[Result]:
    ours_, base = result["ours"], result["geopandas"]
    ours_rate = ours_["read"] / ours_["seconds"]
    base_rate = base["read"] / base["seconds"]
    ratio = ours_rate / base_rate
    checks_ok = all(ours_["checks"].values())
    steps = ", ".join(f"{k} {v:.1f}" for k, v in ours_["timings"].items())
    load = f"load avg before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} (2 cores)"
    planted_total = sum(planted.values())
    rows = [
        Result(
            NAME,
            f"ours: {ours_['read']:,} rows, CSV -> committed (COPY, validation, join, insert, "
            "indexes)",
            ours_rate,
            "rows/s",
            target=f">= {TARGET_ROWS_PER_S:,} rows/s",
            met=ours_rate >= TARGET_ROWS_PER_S and checks_ok,
            baseline=f"geopandas {base_rate:,.0f} rows/s",
            note=f"{ours_['seconds']:.1f} s, median of {len(ours_['runs'])} runs "
            f"({', '.join(f'{run:.1f}' for run in ours_['runs'])} s); the steps are the median "
            f"run's; inserted {ours_['inserted']:,}, rejected "
            f"{ours_['rejected']:,} (planted {planted_total:,}); checks "
            f"{'ok' if checks_ok else ours_['checks']}; steps (s): {steps}; {load}",
        ),
        Result(
            NAME,
            f"geopandas: read_csv -> sjoin -> to_postgis (COPY, chunks of {CHUNK:,})",
            base_rate,
            "rows/s",
            note=f"{base['seconds']:.1f} s; inserted {base['inserted']:,}, table holds "
            f"{base['stored']:,}",
        ),
        Result(
            NAME,
            "ours / geopandas",
            ratio,
            "x",
            target=f">= {TARGET_RATIO:g}x",
            met=ratio >= TARGET_RATIO,
        ),
        *_end_to_end_results(result["end_to_end"]),
        Result(
            NAME,
            "repeat of the same file (inserts nothing)",
            ours_["read"] / ours_["repeat"]["seconds"],
            "rows/s",
            note=f"{ours_['repeat']['seconds']:.1f} s; inserted {ours_['repeat']['inserted']}, "
            f"already present {ours_['repeat']['already_present']:,}",
        ),
        Result(
            NAME,
            f"incremental: {ours_['incremental']['read']:,} new rows into the full table "
            "(indexes kept)",
            ours_["incremental"]["read"] / ours_["incremental"]["seconds"],
            "rows/s",
            note=f"{ours_['incremental']['seconds']:.1f} s; rebuilt indexes: "
            f"{ours_['incremental']['rebuilt_indexes']}",
        ),
    ]
    if "host_copy_rate" in result:
        copy_rate = result["host_copy_rate"]
        rows.append(
            Result(
                NAME,
                "this host: plain COPY of the file into an unlogged table of text columns",
                copy_rate,
                "rows/s",
                note=f"the issue's orientation figure for its machine is ~{ISSUE_COPY_RATE:,} "
                f"rows/s: this host runs at {copy_rate / ISSUE_COPY_RATE:.2f} of that; ours "
                f"scaled by it would be {ours_rate * ISSUE_COPY_RATE / copy_rate:,.0f} rows/s "
                "(for orientation only: the target is judged on the measured figure)",
            )
        )
    for sweep in result.get("subdivide", []):
        rows.append(
            Result(
                NAME,
                f"point join, pieces of <= {sweep['vertices']} vertices ({sweep['pieces']:,} "
                "pieces)",
                sweep["set_join_points_per_s"],
                "points/s",
                note=f"set-based join of the import; the per-point probe of the live intake "
                f"{sweep['probe_us']:.1f} us a point (GEO_OPS_SUBDIVIDE_MAX_VERTICES, now "
                f"{sweep['setting']})",
            )
        )
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_import")
    sub = parser.add_subparsers(dest="command", required=True)
    measure = sub.add_parser("measure", help="(internal) time both sides on the bench database")
    measure.add_argument("csv", type=Path)
    measure.add_argument("out", type=Path)
    measure.add_argument("e2e_csv", type=Path)
    script = sub.add_parser("geopandas", help="(internal) the script a user would write instead")
    script.add_argument("csv", type=Path)
    script.add_argument("--rules", type=json.loads, required=True, help="app_rules() as JSON")
    script.add_argument("--table", default=E2E_TABLE)
    args = parser.parse_args(argv)
    if args.command == "measure":
        _measure(args.csv, args.out, args.e2e_csv)
    else:
        print(json.dumps(baseline_geopandas(args.csv, rules=args.rules, table=args.table)))


if __name__ == "__main__":
    main(sys.argv[1:])
