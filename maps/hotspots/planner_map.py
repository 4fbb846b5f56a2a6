"""The planner map built with folium (Leaflet served by the app, as the public map does)."""

import folium
from branca.element import MacroElement
from django.conf import settings
from django.templatetags.static import static
from folium.elements import JSCSSMixin
from jinja2 import Template

from maps import conf as maps_conf
from maps.folium_map import OfflineMap, RenderedMap


class PlannerMapScript(JSCSSMixin, MacroElement):
    """Hands the folium map to the page script, which adds the layers it reads from the API."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            GeoOpsPlanner.start({{ this._parent.get_name() }}, {{ this.config_id|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, config_id: str):
        super().__init__()
        self._name = "PlannerMapScript"
        self.config_id = config_id
        self.default_js = [("geo_ops_planner", static("maps/planner.js"))]
        self.default_css = [("geo_ops_planner_css", static("maps/planner.css"))]


def planner_map_render(*, rtl: bool, config_id: str = "planner-config") -> RenderedMap:
    lat, lon = maps_conf.get("GEO_OPS_PUBLIC_MAP_CENTER")
    m = OfflineMap(
        location=[lat, lon],
        zoom_start=10,
        tiles=None,
        zoom_control="topright" if rtl else "topleft",
        min_zoom=5,
        max_zoom=19,
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
    PlannerMapScript(config_id).add_to(m)
    figure = m.get_root()
    figure.render()
    return RenderedMap(
        header=figure.header.render(),
        html=figure.html.render(),
        script=figure.script.render(),
    )
