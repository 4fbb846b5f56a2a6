"""Open311 GeoReport v2 endpoints: parse, call a selector or the intake service, render.

The format is the URL's suffix (`.json` or `.xml`). Service names follow `locale=ar` or the
Accept-Language header. `jurisdiction_id` is accepted and ignored: there is one jurisdiction.
"""

import functools

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from ..errors import IntakeError
from ..models import Channel
from ..services import report_create
from . import params
from .render import FORMATS, Open311Error, error_response, render
from .selectors import api_key_resolve, request_get, request_list, service_get, service_list
from .serializers import (
    discovery_dict,
    request_created_dict,
    request_dict,
    service_definition_dict,
    service_dict,
    token_dict,
)

# The intake service names fields as the REST API does; Open311 clients know these names.
OPEN311_FIELDS = {
    "lon": "long",
    "location": "lat/long",
    "category": "service_code",
    "address": "address_string",
    "reporter.name": "first_name/last_name",
    "reporter.phone": "phone",
    "reporter.email": "email",
}
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _language(request: HttpRequest) -> str:
    requested = request.GET.get("locale") or translation.get_language() or ""
    return "ar" if requested.lower().startswith("ar") else "en"


def open311_view(*methods: str):
    """Check the format and method, set the language, and turn every refusal into an Open311
    error in the requested format."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *, fmt: str, **kwargs) -> HttpResponse:
            if fmt not in FORMATS:
                return error_response(
                    fmt="json", status=404, description=f"Unknown format {fmt!r}; use json or xml."
                )
            if request.method not in methods:
                response = error_response(
                    fmt=fmt, status=405, description=f"Method {request.method} not allowed."
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                params.reject_nul(
                    values={**dict(request.GET.lists()), **{k: [v] for k, v in kwargs.items()}}
                )
                language = _language(request)
                with translation.override(language):
                    return view(request, fmt=fmt, language=language, **kwargs)
            except Open311Error as error:
                return error_response(fmt=fmt, status=error.status, description=error.description)
            except IntakeError as error:
                field = OPEN311_FIELDS.get(error.field, error.field)
                return error_response(fmt=fmt, status=400, description=f"{field}: {error.message}")
            except (SuspiciousOperation, MultiPartParserError, BadRequest) as error:
                # Too large, too many fields or a broken multipart body.
                return error_response(fmt=fmt, status=400, description=f"request: {error}")

        return wrapper

    return decorate


@open311_view("GET", "HEAD")
def discovery(request: HttpRequest, *, fmt: str, language: str) -> HttpResponse:
    # The endpoint URL clients append "/services.json" to: the folder of this document.
    base_url = request.build_absolute_uri(request.path).rsplit("/", 1)[0]
    return render(fmt=fmt, data=discovery_dict(base_url=base_url), root="discovery")


@open311_view("GET", "HEAD")
def services(request: HttpRequest, *, fmt: str, language: str) -> HttpResponse:
    data = [service_dict(service=service, language=language) for service in service_list()]
    return render(fmt=fmt, data=data, root="services", item="service")


@open311_view("GET", "HEAD")
def service_definition(
    request: HttpRequest, *, fmt: str, language: str, service_code: str
) -> HttpResponse:
    service = service_get(code=service_code)
    if service is None:
        raise Open311Error(404, f"service_code: unknown service {service_code!r}.")
    return render(fmt=fmt, data=service_definition_dict(service=service), root="service_definition")


@csrf_exempt  # POSTs authenticate with api_key, not a session cookie
@open311_view("GET", "HEAD", "POST")
def service_requests(request: HttpRequest, *, fmt: str, language: str) -> HttpResponse:
    if request.method == "POST":
        data = [_request_create(request)]
    else:
        offset, limit = params.page_window(query=request.GET)
        reports = request_list(
            filters=params.request_filters(query=request.GET), offset=offset, limit=limit
        )
        data = [request_dict(report=report, language=language) for report in reports]
    return render(fmt=fmt, data=data, root="service_requests", item="request")


def _request_create(request: HttpRequest) -> dict:
    """POST requests: a new service request through the one intake service.

    Answers 200 with [{service_request_id, token, service_notice, account_id}], also when an
    `idempotency_key` (extension) repeats an earlier request. `device_id` is accepted and
    not stored.
    """
    if request.content_type not in FORM_CONTENT_TYPES:
        raise Open311Error(
            400, "request: send application/x-www-form-urlencoded or multipart/form-data."
        )
    form = request.POST
    api_key = api_key_resolve(raw_key=form.get("api_key", "").strip())
    if api_key is None:
        raise Open311Error(403, "api_key: missing, invalid or revoked.")
    params.reject_nul(values=dict(form.lists()))
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code: required.")
    service = service_get(code=code)
    if service is None:
        raise Open311Error(400, f"service_code: unknown service {code!r}; see services.json.")
    report, _created = report_create(
        category_code=service.code,
        location=params.location(form=form),
        channel=form.get("channel", "").strip() or Channel.APP,
        description=form.get("description", ""),
        address=form.get("address_string", "").strip(),
        media_url=params.media_url(raw=form.get("media_url", "")),
        reporter=params.reporter(form=form),
        idempotency_key=form.get("idempotency_key"),
        actor_label=f"open311:{api_key.name}",
    )
    return request_created_dict(report=report, account_id=form.get("account_id") or None)


@open311_view("GET", "HEAD")
def service_request(request: HttpRequest, *, fmt: str, language: str, request_id: str):
    report = request_get(tracking_number=request_id)
    if report is None:
        raise Open311Error(404, f"service_request_id: no request {request_id!r}.")
    data = [request_dict(report=report, language=language)]
    return render(fmt=fmt, data=data, root="service_requests", item="request")


@open311_view("GET", "HEAD")
def request_by_token(request: HttpRequest, *, fmt: str, language: str, token: str) -> HttpResponse:
    report = request_get(tracking_number=token)
    if report is None:
        raise Open311Error(404, f"token: no request for token {token!r}.")
    data = [token_dict(report=report)]
    return render(fmt=fmt, data=data, root="service_requests", item="request")


def not_found(request: HttpRequest, path: str) -> HttpResponse:
    """Anything else under /open311/v2/, e.g. a URL without its .json or .xml suffix."""
    fmt = "xml" if path.endswith(".xml") else "json"
    return error_response(fmt=fmt, status=404, description=f"No such endpoint: {path!r}.")
