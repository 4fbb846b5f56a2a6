"""Open311 GeoReport v2 URLs, each with its format suffix: services.json, requests/EP1.xml."""

from django.urls import re_path

from . import views

app_name = "open311"
FORMAT = r"\.(?P<fmt>[^/.]+)$"
ID = r"(?P<{}>[^/]+?)"

urlpatterns = [
    re_path(r"^discovery" + FORMAT, views.discovery, name="discovery"),
    re_path(r"^services" + FORMAT, views.services, name="services"),
    re_path(
        r"^services/" + ID.format("service_code") + FORMAT, views.service_definition, name="service"
    ),
    re_path(r"^requests" + FORMAT, views.service_requests, name="requests"),
    re_path(
        r"^requests/" + ID.format("request_id") + FORMAT, views.service_request, name="request"
    ),
    re_path(r"^tokens/" + ID.format("token") + FORMAT, views.request_by_token, name="token"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
