"""The public map built with folium, with every browser asset served by the app itself.

folium's Map links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs. This Map links only
Leaflet, from the app's static files (node_modules via STATICFILES_DIRS); the page needs nothing
else from folium's defaults. The data layers are not embedded in the HTML: the page script
(static/maps/public_map.js) reads them from the map data endpoints as the view moves.
"""

from dataclasses import dataclass

import folium
from branca.element import MacroElement
from django.conf import settings
from django.templatetags.static import static
from folium.elements import JSCSSMixin
from jinja2 import Template

from . import conf


class OfflineMap(folium.Map):
    """folium.Map whose JavaScript and CSS links point at the app's own static files."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Instance attributes: folium's class-level lists are shared and hold CDN URLs.
        self.default_js = [("leaflet", static("vendor/leaflet/leaflet.js"))]
        self.default_css = [("leaflet_css", static("vendor/leaflet/leaflet.css"))]


class PublicMapScript(JSCSSMixin, MacroElement):
    """Hands the folium map to the page script, which adds boundaries, markers and the form."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            GeoOpsPublicMap.start({{ this._parent.get_name() }}, {{ this.config_id|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, config_id: str):
        super().__init__()
        self._name = "PublicMapScript"
        self.config_id = config_id
        self.default_js = [
            ("markercluster", static("vendor/leaflet.markercluster/leaflet.markercluster.js")),
            ("geo_ops_public_map", static("maps/public_map.js")),
        ]
        self.default_css = [
            ("markercluster_css", static("vendor/leaflet.markercluster/MarkerCluster.css")),
            ("geo_ops_public_map_css", static("maps/public_map.css")),
        ]


@dataclass
class RenderedMap:
    """The three parts of folium's page, placed by the Django template."""

    header: str
    html: str
    script: str


def offline_map_render(*, rtl: bool, zoom_start: int, page_script: MacroElement) -> RenderedMap:
    """A folium map with local assets, the configured basemap, controls placed for the text
    direction and the page's own script (which adds the data layers), rendered in parts."""
    lat, lon = conf.get("GEO_OPS_PUBLIC_MAP_CENTER")
    m = OfflineMap(
        location=[lat, lon],
        zoom_start=zoom_start,
        tiles=None,
        zoom_control="topright" if rtl else "topleft",
        min_zoom=5,
        max_zoom=19,
        prefer_canvas=False,
        control_scale=True,
    )
    folium.TileLayer(
        tiles=settings.GEO_OPS_TILE_URL,
        attr=settings.GEO_OPS_TILE_ATTRIBUTION,
        name="basemap",
        max_zoom=19,
        max_native_zoom=19,
        control=False,
    ).add_to(m)
    page_script.add_to(m)
    figure = m.get_root()
    figure.render()
    return RenderedMap(
        header=figure.header.render(),
        html=figure.html.render(),
        script=figure.script.render(),
    )


def public_map_render(*, rtl: bool, config_id: str = "public-map-config") -> RenderedMap:
    """Build the public map."""
    return offline_map_render(
        rtl=rtl,
        zoom_start=conf.get("GEO_OPS_PUBLIC_MAP_ZOOM"),
        page_script=PublicMapScript(config_id),
    )
