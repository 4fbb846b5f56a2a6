"""Shared pieces of the browser tests (the pages in a real headless Chromium): finding the
distribution's Chromium, and `Browsing`, one browser context and page that records every request
and console error. The fixtures that use them (`chromium`, `site`, `browse`) are in
tests/conftest.py, so every app's browser tests share one browser per session.

Every request is recorded: only the app (the live server) and the configured tile server may be
asked for anything. The tile server is a made-up host, `tiles.test`, set as GEO_OPS_TILE_URL;
the browser's requests to it are answered with a blank tile by Playwright, and requests to any
other host are refused and reported. JavaScript errors and console errors fail the test.
"""

import io
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
# Screenshots, by default (Browsing.artifacts).
ARTIFACTS = REPO / "test-artifacts" / "maps"


def _find_chromium() -> str:
    """GEO_OPS_CHROMIUM, else the distribution's Chromium (Debian: chromium, Ubuntu:
    chromium-browser); never a browser downloaded by Playwright."""
    if os.environ.get("GEO_OPS_CHROMIUM"):
        return os.environ["GEO_OPS_CHROMIUM"]
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium"


CHROMIUM = _find_chromium()
# Flags for a sandbox-less container and a browser that must not call home (update checks,
# sync, field trials): every request it makes is the page's own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TILE_HOST = "tiles.test"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def blank_tile() -> bytes:
    image = Image.new("RGB", (256, 256), (238, 240, 234))
    ImageDraw.Draw(image).rectangle([0, 0, 255, 255], outline=(222, 225, 216))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


TILE = blank_tile()


class Browsing:
    """One browser context and page, with every request and console error recorded."""

    def __init__(self, chromium, base_url: str, *, viewport, mobile: bool, tmp_path):
        self.base_url = base_url
        # Where screenshots go; a test module may point it elsewhere.
        self.artifacts = ARTIFACTS
        self.app_host = urlsplit(base_url).netloc
        self.tmp_path = tmp_path
        self.context = chromium.new_context(
            viewport=viewport,
            is_mobile=mobile,
            has_touch=mobile,
            locale="en-US",
            device_scale_factor=1,
        )
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        self.expected_statuses: set[int] = set()
        self.context.route("**/*", self._route)
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _route(self, route):
        url = route.request.url
        host = urlsplit(url).netloc
        if host == TILE_HOST:
            route.fulfill(status=200, body=TILE, content_type="image/png")
        elif host == self.app_host:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def _console(self, message):
        if message.type != "error":
            return
        text = message.text
        # The browser logs a page answered with an error status (a 400 form page, the 404 page)
        # as a failed load; those statuses are what the test asked for.
        match = re.search(r"status of (\d{3})", text)
        if match and int(match.group(1)) in self.expected_statuses:
            return
        self.errors.append(f"console: {text} at {message.location}")

    def goto(self, path: str, *, status: int = 200):
        if status != 200:
            self.expected_statuses.add(status)
        response = self.page.goto(self.base_url + path)
        assert response.status == status, (path, response.status)
        return response

    def wait_for_map(self, after: int = 0):
        """Until the map has drawn the data of load number `after` + 1 (or later)."""
        self.page.wait_for_function(
            f"Number(document.body.getAttribute('data-map-loads') || 0) > {after}",
            timeout=15_000,
        )
        return self.map_loads()

    def map_loads(self) -> int:
        return int(self.page.evaluate("Number(document.body.getAttribute('data-map-loads')||0)"))

    def set_view(self, lon: float, lat: float, zoom: int):
        """Move the map and wait until it has what it needs for the new view."""
        views = self.page.evaluate("Number(document.body.getAttribute('data-map-views') || 0)")
        self.page.evaluate(
            f"GeoOpsPublicMap.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})"
        )
        self.page.wait_for_function(
            f"Number(document.body.getAttribute('data-map-views') || 0) > {views}"
            " && document.body.getAttribute('data-map-busy') === '0'",
            timeout=15_000,
        )
        self.page.wait_for_timeout(400)  # marker cluster animation

    def click_map_at(self, lon: float, lat: float):
        point = self.page.evaluate(
            f"(() => {{ const p = GeoOpsPublicMap.map.latLngToContainerPoint([{lat}, {lon}]);"
            " const r = GeoOpsPublicMap.map.getContainer().getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; })()"
        )
        self.page.mouse.click(point[0], point[1])

    def shown_counts(self) -> tuple[int, int]:
        """(reports counted in cluster circles, single report markers) currently drawn."""
        return tuple(
            self.page.evaluate(
                """(() => {
                    const counts = [...document.querySelectorAll('.report-cluster span')]
                        .map((el) => Number(el.textContent.replace(/[^0-9]/g, '')));
                    const clustered = counts.reduce((sum, n) => sum + n, 0);
                    const single = document.querySelectorAll('.report-marker').length;
                    return [clustered, single];
                })()"""
            )
        )

    def screenshot(self, name: str):
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"))

    def assert_clean(self):
        hosts = {urlsplit(url).netloc for url in self.requests if not url.startswith("data:")}
        assert not self.refused, f"requests to other hosts: {self.refused}"
        assert hosts <= {self.app_host, TILE_HOST}, hosts
        assert not self.errors, self.errors

    def close(self):
        self.context.close()
