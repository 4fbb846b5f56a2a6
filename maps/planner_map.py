"""The planner map built with folium (Leaflet served by the app, as the public map does)."""

from branca.element import MacroElement
from django.templatetags.static import static
from folium.elements import JSCSSMixin
from jinja2 import Template

from .folium_map import RenderedMap, offline_map_render


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
    """Build the planner map."""
    return offline_map_render(rtl=rtl, zoom_start=10, page_script=PlannerMapScript(config_id))
