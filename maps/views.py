"""Views of the public pages: parse, call a service or selector, render."""

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django.views.static import serve

from geo_ops.reports.errors import IntakeError
from geo_ops.reports.models import OPEN_STATUSES, Category, EventKind, Report, Status
from geo_ops.reports.privacy import public_location_expression

from . import selectors
from .forms import ReportProblemForm, TrackLookupForm
from .services import public_map_summary_ensure, web_report_submit

BBOX_ERROR = "bbox must be west,south,east,north in degrees (WGS84), west < east, south < north."


def _page_labels() -> dict:
    """Texts of the page script, in the page's language."""
    return {
        "legend": _("Legend"),
        "branchBoundary": _("Branch municipality boundary"),
        "clusterHelp": _("Circles count open reports nearby; click to zoom in."),
        "openReports": _("Open reports in view: %(n)s"),
        "loading": _("Loading…"),
        "loadFailed": _("The reports could not be loaded. Move the map to try again."),
        "category": _("Category"),
        "subcategory": _("Type of problem"),
        "status": _("Status"),
        "date": _("Reported on"),
        "trackingNumber": _("Tracking number"),
        "details": _("Follow this report"),
        "clickMap": _("Click the map where the problem is."),
        "locationChosen": _("Location chosen. Drag the pin or click again to move it."),
        "yourReport": _("Your report"),
    }


def _public_map_page(
    request: HttpRequest, *, form: ReportProblemForm, report_open: bool, status: int = 200
) -> HttpResponse:
    # Imported here: folium pulls in pandas, which no other request or command needs.
    from .folium_map import public_map_render

    language = get_language() or "en"
    rtl = get_language_bidi()
    categories = selectors.map_categories(language=language)
    focus = None
    tracking = request.GET.get("report", "")
    if tracking:
        located = (
            Report.objects.filter(
                tracking_number=tracking.strip().upper(), status__in=OPEN_STATUSES
            )
            .annotate(public_location=public_location_expression())
            .values_list("tracking_number", "public_location")
            .first()
        )
        if located and located[1] is not None:
            focus = {"tracking": located[0], "lon": located[1].x, "lat": located[1].y}
    chosen = None
    if form.is_bound:
        try:
            chosen = {"lat": float(form.data["lat"]), "lon": float(form.data["lon"])}
        except (KeyError, TypeError, ValueError):
            chosen = None
    config = {
        "language": language,
        "rtl": rtl,
        "dataUrl": reverse("maps:open_reports_data"),
        "branchesUrl": reverse("maps:branch_outlines"),
        "trackUrl": reverse("maps:track", args=["TRACKING"]),
        "categories": categories,
        "statuses": {value: str(label) for value, label in Status.choices},
        "labels": _page_labels(),
        "focus": focus,
        "reportPanelOpen": report_open,
        "chosenLocation": chosen,
    }
    context = {
        "map": public_map_render(rtl=rtl),
        "config": config,
        "categories": categories,
        "form": form,
        "report_open": report_open,
        "nav": "map",
    }
    return render(request, "maps/public_map.html", context, status=status)


@require_GET
def public_map(request: HttpRequest) -> HttpResponse:
    """`/`: the open-issues map."""
    return _public_map_page(request, form=ReportProblemForm(), report_open=False)


@require_http_methods(["GET", "POST"])
def report_problem(request: HttpRequest) -> HttpResponse:
    """`/report/`: the map with the "Report a problem" form open; POST stores the report."""
    if request.method == "GET":
        return _public_map_page(request, form=ReportProblemForm(), report_open=True)
    form = ReportProblemForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            report, _created = web_report_submit(
                subcategory_code=data["subcategory"],
                lon=data["lon"],
                lat=data["lat"],
                description=data["description"],
                photo=form.clean_photo_result,
                submission_id=data.get("submission_id") or None,
                media_url_for=request.build_absolute_uri,
            )
        except IntakeError as exc:
            form.add_intake_error(exc.field, str(exc.message))
        else:
            messages.success(
                request,
                _("Thank you. Your report was received; its tracking number is %(number)s.")
                % {"number": report.tracking_number},
            )
            return redirect("maps:track", tracking_number=report.tracking_number)
    # Bad input: the same page with the errors beside their fields and everything typed kept
    # (browsers never re-fill a file input, so a photo must be chosen again).
    return _public_map_page(request, form=form, report_open=True, status=400)


@require_GET
def open_reports_data(request: HttpRequest) -> JsonResponse:
    """`/maps/open-reports.json?bbox=w,s,e,n&zoom=z[&category=code]`: the public map's data."""
    errors = {}
    try:
        west, south, east, north = (float(v) for v in request.GET.get("bbox", "").split(","))
        if not (
            -180 <= west < east <= 180
            and -90 <= south < north <= 90
            and all(v == v for v in (west, south, east, north))
        ):
            raise ValueError
    except ValueError:
        errors["bbox"] = [BBOX_ERROR]
    try:
        zoom = int(request.GET.get("zoom", ""))
        if not 0 <= zoom <= 22:
            raise ValueError
    except ValueError:
        errors["zoom"] = ["zoom must be a whole number from 0 to 22."]
    category = None
    code = request.GET.get("category", "")
    if code:
        category = Category.objects.filter(code=code, parent__isnull=True, active=True).first()
        if category is None:
            errors["category"] = [f"Unknown category {code!r}; use a top-level category code."]
    if errors:
        return JsonResponse(errors, status=400)
    summary = public_map_summary_ensure()
    data = selectors.map_data(
        bbox=(west, south, east, north), zoom=zoom, category=category, summary=summary
    )
    response = JsonResponse(data)
    patch_cache_control(response, public=True, max_age=10)
    return response


@require_GET
def branch_outlines(request: HttpRequest) -> HttpResponse:
    """`/maps/branches.geojson`: simplified branch boundaries for the map pages."""
    response = HttpResponse(
        selectors.branch_outlines_geojson(), content_type="application/geo+json"
    )
    patch_cache_control(response, public=True, max_age=3600)
    return response


@require_GET
def track_lookup(request: HttpRequest) -> HttpResponse:
    """`/track/?number=...`: the tracking-number form; a known number redirects to its page."""
    form = TrackLookupForm(request.GET or None)
    if form.is_valid():
        number = form.cleaned_data["number"].strip().upper()
        if selectors.report_by_tracking_number(number) is not None:
            return redirect("maps:track", tracking_number=number)
        form.add_error("number", _("No report has this tracking number."))
    return render(
        request,
        "maps/track_lookup.html",
        {"form": form, "nav": "track"},
        status=400 if form.errors else 200,
    )


@require_GET
def track(request: HttpRequest, tracking_number: str) -> HttpResponse:
    """`/track/<tracking number>/`: status and public history, without personal data."""
    report = selectors.report_by_tracking_number(tracking_number)
    if report is None:
        return render(
            request,
            "maps/track_not_found.html",
            {"number": tracking_number[:20], "form": TrackLookupForm(), "nav": "track"},
            status=404,
        )
    language = get_language() or "en"
    events = [
        {
            "at": event.created_at,
            "what": event.get_kind_display()
            if event.kind == EventKind.CREATED
            else (event.get_to_status_display() or event.get_kind_display()),
            # The automatic note of a new report is the English "Report received"; the event's
            # translated name says the same, so only notes people wrote are shown.
            "note": "" if event.kind == EventKind.CREATED else event.note,
        }
        for event in selectors.report_public_history(report)
    ]
    context = {
        "report": report,
        "category_name": report.category.name(language),
        "subcategory_name": report.subcategory.name(language) if report.subcategory else "",
        "branch_name": (
            (report.branch.name_ar or report.branch.name_en)
            if language.startswith("ar")
            else report.branch.name_en
        )
        if report.branch
        else "",
        "is_open": report.status in OPEN_STATUSES,
        "events": events,
        "nav": "track",
        "map_url": f"{reverse('maps:public_map')}?report={report.tracking_number}",
    }
    return render(request, "maps/track.html", context)


@require_GET
def report_photo(request: HttpRequest, path: str) -> HttpResponse:
    """`/media/report-photos/...`: citizens' photos (Report.media_url, also given out by Open311).

    Photos are stored without metadata (maps/photos.py). Behind a web server that serves
    MEDIA_ROOT/report-photos/ itself, set GEO_OPS_SERVE_MEDIA = False.
    """
    if not getattr(settings, "GEO_OPS_SERVE_MEDIA", True):
        raise Http404
    # django.views.static.serve refuses paths that leave document_root.
    return serve(request, path, document_root=Path(settings.MEDIA_ROOT) / "report-photos")
