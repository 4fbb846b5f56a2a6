"""Kernel-density heatmap of reports for a map view, rendered server-side as a PNG.

A quick look beside the statistical layers, not instead of them. The density is a Gaussian
kernel estimate with a bandwidth in metres (GEO_OPS_HOTSPOT_KDE_BANDWIDTH_M): reports are binned
on the view's pixel grid in Web Mercator (the projection Leaflet stretches an image overlay in,
so pixels line up with the basemap), smoothed with the Gaussian (bandwidth converted to Mercator
units at the view's latitude; at least 1.5 pixels when zoomed far out) and scaled to reports per
km^2. Computing it here keeps the page free of a heatmap library and of every report's location.
"""

import io
import math

import numpy as np
from django.db import connection
from PIL import Image

from . import conf
from .filters import HotspotFilters
from .selectors import analysis_where

EARTH_RADIUS_M = 6378137.0
# Colour ramp from low to high density (RGB); transparency grows with density.
RAMP = np.array(
    [[255, 255, 178], [254, 204, 92], [253, 141, 60], [240, 59, 32], [189, 0, 38]], dtype=float
)

POINTS_SQL = """
SELECT ST_X(r.location), ST_Y(r.location)
FROM reports_report r
WHERE {where} AND r.location && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
"""


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = np.clip(lat, -85, 85)
    x = EARTH_RADIUS_M * np.radians(lon)
    y = EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
    return x, y


def kde_image(
    *, filters: HotspotFilters, bbox: tuple[float, float, float, float], width: int, height: int
) -> tuple[bytes, dict]:
    """The heatmap PNG for the view bbox (w, s, e, n) at width x height pixels, and its scale."""
    # Imported here: scipy takes a noticeable time to load for every command and worker.
    from scipy.ndimage import gaussian_filter

    west, south, east, north = bbox
    bandwidth = float(conf.get("GEO_OPS_HOTSPOT_KDE_BANDWIDTH_M"))
    mid_lat = (south + north) / 2
    x0, y0 = _mercator(np.array([west]), np.array([south]))
    x1, y1 = _mercator(np.array([east]), np.array([north]))
    x0, y0, x1, y1 = float(x0[0]), float(y0[0]), float(x1[0]), float(y1[0])
    pixel = (x1 - x0) / width  # Mercator metres per pixel
    scale = 1 / math.cos(math.radians(mid_lat))  # Mercator metres per ground metre
    sigma_px = max(1.5, bandwidth * scale / pixel)
    # Reports up to three bandwidths outside the view still shine into it.
    margin_deg = 3 * sigma_px * pixel / scale / 111_320
    where, params = analysis_where(filters=filters)
    params.update(
        w=west - margin_deg / math.cos(math.radians(mid_lat)),
        s=south - margin_deg,
        e=east + margin_deg / math.cos(math.radians(mid_lat)),
        n=north + margin_deg,
    )
    with connection.cursor() as cursor:
        cursor.execute(POINTS_SQL.format(where=where), params)
        points = np.array(cursor.fetchall(), dtype=float).reshape(-1, 2)
    x, y = _mercator(points[:, 0], points[:, 1])
    # Leaflet's views have square pixels in Mercator; a caller's odd size should still work.
    pixel_y = (y1 - y0) / height
    sigma_y = sigma_px * pixel / pixel_y
    pad = math.ceil(3 * max(sigma_px, sigma_y))
    counts, _, _ = np.histogram2d(
        y,
        x,
        bins=(height + 2 * pad, width + 2 * pad),
        range=(
            (y0 - pad * pixel_y, y1 + pad * pixel_y),
            (x0 - pad * pixel, x1 + pad * pixel),
        ),
    )
    smooth = gaussian_filter(counts, sigma=(sigma_y, sigma_px), mode="constant", truncate=3.0)
    smooth = smooth[pad : pad + height, pad : pad + width][::-1]  # north up
    pixel_km2 = (pixel / scale / 1000) * (pixel_y / scale / 1000)
    density = smooth / pixel_km2
    peak = float(density.max()) if density.size else 0.0
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    if peak > 0:
        level = np.clip(density / peak, 0, 1)
        position = level * (len(RAMP) - 1)
        low = np.floor(position).astype(int).clip(0, len(RAMP) - 2)
        frac = (position - low)[..., None]
        rgba[..., :3] = (RAMP[low] * (1 - frac) + RAMP[low + 1] * frac).astype(np.uint8)
        alpha = np.where(level < 0.02, 0, 60 + 170 * np.sqrt(level))
        rgba[..., 3] = alpha.astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue(), {
        "reports": int(len(points)),
        "peak_per_km2": round(peak, 2),
        "bandwidth_m": round(max(bandwidth, sigma_px * pixel / scale)),
    }
