"""The crew map at /crew/: a phone-sized page for a field crew's jobs (the third audience of the
map pages, with the public map and the planner dashboard). It reads and changes jobs only
through the crew API (/api/v1/crew/jobs/, fieldteams), whose scoping is the one that counts; the
page itself only needs to know who is signed in."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from fieldteams.models import AssignmentState
from fieldteams.selectors import crew_member_of
from fieldteams.services import allowed_transitions

LOGIN_URL = reverse_lazy("maps:crew_login")


def _labels() -> dict:
    """Texts of the page script, in the page's language."""
    return {
        "jobs": _("Jobs"),
        "noJobs": _("No open jobs. New jobs appear here when they are assigned to your crew."),
        "due": _("Due"),
        "overdue": _("Overdue"),
        "priority": _("Priority"),
        "reports": _("Reports of this problem: %(n)s"),
        "navigate": _("Navigate"),
        "openMap": _("Map link"),
        "callReporter": _("Call the reporter"),
        "note": _("Note (required)"),
        "reason": _("Reason (required)"),
        "photo": _("Photo (optional)"),
        "usePosition": _("Add my current position"),
        "send": _("Send"),
        "cancel": _("Cancel"),
        "noteRequired": _("Write a note first."),
        "reasonRequired": _("Write a reason first."),
        "online": _("Online"),
        "offline": _("Offline: updates are kept and sent when the connection is back."),
        "queued": _("Waiting to send: %(n)s"),
        "pending": _("Waiting to send"),
        "failed": _("Not accepted by the server"),
        "dismiss": _("Dismiss"),
        "photoTooBig": _(
            "The photo is too large to keep offline; the update is kept without it. "
            "Send the photo again when online."
        ),
        "loadFailed": _("The jobs could not be loaded; showing the last list saved on this phone."),
        "updated": _("Updated"),
        "depot": _("Depot"),
        "eta": _("ETA"),
        "urgentNew": _("A new urgent job is not on your route yet."),
        "replan": _("Re-plan my route"),
        "replanning": _("Planning…"),
        "replanFailed": _("The route could not be planned again; try once more."),
        "priorities": {"1": _("Low"), "2": _("Normal"), "3": _("High"), "4": _("Urgent")},
        "actions": {
            AssignmentState.ACCEPTED: _("Accept"),
            AssignmentState.DECLINED: _("Decline"),
            AssignmentState.EN_ROUTE: _("On my way"),
            AssignmentState.IN_PROGRESS: _("Start work"),
            AssignmentState.PAUSED: _("Pause"),
            AssignmentState.COMPLETED: _("Complete"),
        },
        "states": {state.value: str(state.label) for state in AssignmentState},
    }


@require_GET
@login_required(login_url=LOGIN_URL)
def crew_map(request: HttpRequest) -> HttpResponse:
    """`/crew/`: the signed-in crew member's jobs on a map and in a list, in suggested order."""
    member = crew_member_of(user=request.user)
    if member is None:
        return render(request, "maps/crew_forbidden.html", status=403)
    crew = member.crew
    language = get_language() or "en"
    config = {
        "language": language,
        "rtl": get_language_bidi(),
        "jobsUrl": reverse("crew-jobs"),
        # Today's route plan of the crew (ETAs, urgent jobs not on it, re-plan): fieldteams.
        "routeUrl": reverse("route-crew-today"),
        "transitionUrl": reverse("crew-job-transition", args=[0]).replace("/0/", "/{id}/"),
        "tileUrl": settings.GEO_OPS_TILE_URL,
        "tileAttribution": settings.GEO_OPS_TILE_ATTRIBUTION,
        "crew": {"code": crew.code, "depot": [crew.depot.x, crew.depot.y]},
        "user": request.user.username,
        "timeZone": settings.TIME_ZONE,
        "labels": _labels(),
        "retrySeconds": getattr(settings, "GEO_OPS_CREW_RETRY_SECONDS", 15),
        # The workflow, for showing a queued update's next steps before the server has it.
        "transitions": {state: allowed_transitions(state) for state in AssignmentState.values},
    }
    context = {"crew": crew, "crew_name": crew.name(language), "config": config}
    return render(request, "maps/crew_map.html", context)


class CrewLoginView(LoginView):
    """`/crew/login/`: sign in, then the crew map."""

    template_name = "maps/crew_login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("maps:crew_map")


class CrewLogoutView(LogoutView):
    """`/crew/logout/` (POST): sign out, back to the sign-in page."""

    next_page = LOGIN_URL
