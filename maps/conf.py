"""Settings of the map pages, with their defaults (override any of them in the settings)."""

from django.conf import settings

DEFAULTS = {
    # At most this many points are sent to the public map; a view holding more gets grid counts.
    "GEO_OPS_PUBLIC_MAP_MAX_POINTS": 2000,
    # Age after which the public map's per-cell summary is rebuilt (in the background).
    "GEO_OPS_PUBLIC_MAP_SUMMARY_TTL": 300,
    # ST_SimplifyPreserveTopology tolerance of the branch outlines on the public map, in metres.
    "GEO_OPS_PUBLIC_MAP_OUTLINE_TOLERANCE_M": 100,
    # Largest accepted photo upload, in bytes, and the longest edge photos are reduced to.
    "GEO_OPS_PHOTO_MAX_BYTES": 8 * 1024 * 1024,
    "GEO_OPS_PHOTO_MAX_EDGE_PX": 2048,
    # Map view of the public map when it opens: (latitude, longitude) and zoom.
    "GEO_OPS_PUBLIC_MAP_CENTER": (26.40, 50.05),
    "GEO_OPS_PUBLIC_MAP_ZOOM": 9,
}


def get(name: str):
    """The setting `name`, or its default above."""
    return getattr(settings, name, DEFAULTS[name])
