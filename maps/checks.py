"""System checks: the browser libraries must be installed (`npm ci`), since no CDN is used."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Warning, register

# Files the map pages load from the vendored npm packages.
REQUIRED_VENDOR_FILES = ("leaflet.js", "leaflet.css", "leaflet.markercluster.js")


@register()
def vendored_browser_libraries(app_configs, **kwargs):
    """Warn (not fail: migrate must still run on a fresh machine) when `npm ci` is missing."""
    found = set()
    for entry in settings.STATICFILES_DIRS:
        directory = Path(entry[1] if isinstance(entry, tuple | list) else entry)
        found.update(name for name in REQUIRED_VENDOR_FILES if (directory / name).is_file())
    missing = [name for name in REQUIRED_VENDOR_FILES if name not in found]
    if not missing:
        return []
    return [
        Warning(
            f"Browser libraries missing: {', '.join(missing)}; the map pages will not work.",
            hint="Run `npm ci` in the repository root (package.json lists Leaflet and "
            "Leaflet.markercluster; settings.STATICFILES_DIRS serves them from node_modules).",
            id="maps.W001",
        )
    ]
