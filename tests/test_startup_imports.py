"""Starting a management command or a gunicorn worker imports none of the heavy libraries: they
load in the functions that use them (hotspot analysis, map rendering, exports, route solving),
so every command and worker start does not pay seconds for them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HEAVY = {
    "scipy",
    "esda",
    "libpysal",
    "folium",
    "branca",
    "pandas",
    "geopandas",
    "pyvrp",
    "ortools",
    "sklearn",
}

# What a gunicorn worker does before its first request (geo_ops.wsgi), plus loading the URLconf
# with every view module, as the first request does.
WSGI_WORKER = (
    "import geo_ops.wsgi; from django.urls import get_resolver; "
    "get_resolver().url_patterns; print('ok')"
)


def heavy_imports(*args: str) -> set[str]:
    """The heavy top-level packages that `python -X importtime <args>` imports."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "geo_ops.settings.test"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Lines read "import time: <self us> | <cumulative us> | <indent><module>".
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return {name.split(".")[0] for name in modules} & HEAVY


@pytest.mark.parametrize(
    "args",
    [("manage.py", "check"), ("manage.py", "help"), ("-c", WSGI_WORKER)],
    ids=["check", "help", "wsgi-worker"],
)
def test_startup_imports_no_heavy_library(args):
    assert heavy_imports(*args) == set()
