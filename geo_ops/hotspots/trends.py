"""Trends of hot spots: weekly counts and a Mann-Kendall test, labelled as a reduced form of
emerging hot spot analysis.

Labels, checked in this order for a hot unit (a cluster, or a hexagon in a hot bin):
- new: no report before the last GEO_OPS_HOTSPOT_NEW_SHARE (25 %) of the period;
- intensifying / diminishing: a Mann-Kendall trend of the weekly counts, p < alpha (0.05),
  up / down;
- persistent: no significant trend, reports in at least GEO_OPS_HOTSPOT_PERSISTENT_SHARE (75 %)
  of the period's 4-week blocks;
- sporadic: hot, but on and off.
"""

import math

import numpy as np

from . import conf
from .models import Trend

WEEK_S = 7 * 24 * 3600


def weeks_in(seconds: float) -> int:
    """Weeks (the last one possibly partial) in a period of that many seconds."""
    return max(1, math.ceil(seconds / WEEK_S))


def weekly_counts(week_index: np.ndarray, group: np.ndarray, groups: int, weeks: int) -> np.ndarray:
    """groups x weeks matrix of counts from each report's group and week index."""
    week_index = np.clip(week_index, 0, weeks - 1)
    flat = np.bincount(group * weeks + week_index, minlength=groups * weeks)
    return flat.reshape(groups, weeks)


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall S, Kendall's tau and the two-sided p-value for each row of `series`.

    The variance is corrected for ties (weekly counts are small integers, so ties are the rule)
    and z has the usual continuity correction.
    """
    # Imported here: scipy.stats takes a second to load, which every command and worker paid.
    from scipy.stats import norm

    series = np.atleast_2d(np.asarray(series, dtype=np.int64))
    rows, n = series.shape
    s = np.zeros(rows, dtype=np.int64)
    for i in range(n - 1):
        s += np.sign(series[:, i + 1 :] - series[:, i : i + 1]).sum(axis=1)
    variance = np.full(rows, n * (n - 1) * (2 * n + 5), dtype=np.float64)
    for row in range(rows):
        ties = np.bincount(series[row] - series[row].min())
        ties = ties[ties > 1]
        variance[row] -= float((ties * (ties - 1) * (2 * ties + 5)).sum())
    variance /= 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(
            variance > 0, (s - np.sign(s)) / np.sqrt(np.where(variance > 0, variance, 1)), 0.0
        )
    p = 2 * norm.sf(np.abs(z))
    tau = s / (n * (n - 1) / 2) if n > 1 else np.zeros(rows)
    return s, tau, p


def trend_labels(counts: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A label, tau and p for each row of a units x weeks count matrix."""
    counts = np.atleast_2d(counts)
    rows, weeks = counts.shape
    if rows == 0:
        return [], np.zeros(0), np.zeros(0)
    alpha = conf.get("GEO_OPS_HOTSPOT_TREND_ALPHA")
    s, tau, p = mann_kendall(counts)
    has_reports = counts > 0
    first = np.where(has_reports.any(axis=1), has_reports.argmax(axis=1), weeks)
    new_from = weeks * (1 - conf.get("GEO_OPS_HOTSPOT_NEW_SHARE"))
    blocks = math.ceil(weeks / 4)
    padded = np.zeros((rows, blocks * 4), dtype=counts.dtype)
    padded[:, :weeks] = counts
    block_share = (padded.reshape(rows, blocks, 4).sum(axis=2) > 0).mean(axis=1)
    persistent = conf.get("GEO_OPS_HOTSPOT_PERSISTENT_SHARE")
    labels = []
    for row in range(rows):
        if weeks >= 4 and first[row] >= new_from:
            labels.append(Trend.NEW)
        elif p[row] < alpha and s[row] > 0:
            labels.append(Trend.INTENSIFYING)
        elif p[row] < alpha and s[row] < 0:
            labels.append(Trend.DIMINISHING)
        elif block_share[row] >= persistent:
            labels.append(Trend.PERSISTENT)
        else:
            labels.append(Trend.SPORADIC)
    return [str(label) for label in labels], tau, p
