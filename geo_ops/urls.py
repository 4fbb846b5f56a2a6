"""URL map: pages, the REST API, Open311 and the schema."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("geo_ops.api_urls")),
    path("open311/v2/", include("geo_ops.reports.open311.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Public pages: the open-issues map at /, /report/, /track/<number>/, map data under /maps/.
    path("", include("maps.urls")),
]
