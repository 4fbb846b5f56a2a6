"""Parameters of the hotspot analysis, with their defaults (override any of them in the settings).

DBSCAN (`GEO_OPS_HOTSPOT_DBSCAN`): per top-level category code (and "default"), eps in metres (in
GEO_OPS_METRIC_SRID) and the minimum number of reports, itself included, within eps of a core
report. The minimum is `max(min_points, ceil(min_share * n))`, n being the category's reports in
the analysed period and filters: a fixed count would call every busy city block a hotspot over a
year and find nothing over a week, while a share keeps "a spot holding an unusual part of this
category's reports" comparable across periods, branches and volumes. Tuned on the demo year at
scales 0.25 and 1 (tests/demo/test_hotspots_demo.py, maps/README.md): every planted hotspot found,
none of the urban background's density mistaken for one.
"""

from django.conf import settings

DEFAULTS = {
    "GEO_OPS_HOTSPOT_DBSCAN": {
        "default": {"eps_m": 175, "min_points": 4, "min_share": 0.0025},
        # Parks and facilities are few (3 % of reports) and spread over larger grounds.
        "parks_facilities": {"eps_m": 250, "min_points": 4, "min_share": 0.0025},
    },
    # H3 resolutions offered (7: ~5 km², 8: ~0.7 km², 9: ~0.1 km² per cell) and the default.
    "GEO_OPS_HOTSPOT_H3_RESOLUTIONS": (7, 8, 9),
    "GEO_OPS_HOTSPOT_H3_RESOLUTION": 8,
    # Gi* permutation inference: permutations and the seed that makes a run reproducible.
    "GEO_OPS_HOTSPOT_PERMUTATIONS": 999,
    "GEO_OPS_HOTSPOT_SEED": 12345,
    # Trend labels: Mann-Kendall significance, and the share of the period that makes a hot cell
    # with no earlier report "new", and the share of 4-week blocks with reports for "persistent".
    "GEO_OPS_HOTSPOT_TREND_ALPHA": 0.05,
    "GEO_OPS_HOTSPOT_NEW_SHARE": 0.25,
    "GEO_OPS_HOTSPOT_PERSISTENT_SHARE": 0.75,
    # The period analysed when no dates are given: this many days up to the newest report.
    "GEO_OPS_HOTSPOT_DEFAULT_DAYS": 365,
    # A stored run is reused while its data is unchanged and it is younger than this (seconds).
    "GEO_OPS_HOTSPOT_RUN_TTL": 6 * 3600,
    # Kernel density heatmap: Gaussian bandwidth in metres and the largest image edge in pixels.
    "GEO_OPS_HOTSPOT_KDE_BANDWIDTH_M": 300,
    "GEO_OPS_HOTSPOT_KDE_MAX_PX": 1024,
}


def get(name: str):
    """The setting `name`, or its default above."""
    return getattr(settings, name, DEFAULTS[name])


def dbscan_params(category_code: str) -> dict:
    """eps_m, min_points and min_share for a top-level category."""
    table = get("GEO_OPS_HOTSPOT_DBSCAN")
    params = dict(DEFAULTS["GEO_OPS_HOTSPOT_DBSCAN"]["default"])
    params.update(table.get("default", {}))
    params.update(table.get(category_code, {}))
    return params
