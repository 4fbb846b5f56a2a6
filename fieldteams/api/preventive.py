"""POST /api/v1/hotspots/clusters/<id>/preventive-work/: a planner turns a stored hotspot cluster
into recurring preventive work. It lives in fieldteams, which owns preventive work and dispatch,
under the hotspot API's URL (geo_ops.hotspots may not import fieldteams)."""

from django.utils.translation import get_language
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from geo_ops.hotspots.api.views import PlannerAPIView
from geo_ops.hotspots.models import HotspotCluster

from ..preventive import INTERVAL_CHOICES, PreventiveWorkError, preventive_work_create


class PreventiveWorkView(PlannerAPIView):
    """POST: turn a stored cluster into recurring preventive work; the first job is dispatched
    to the responsible crew at once (fieldteams' dispatch service)."""

    def post(self, request, cluster_id: int):
        cluster = (
            HotspotCluster.objects.select_related("category", "dominant_subcategory", "branch")
            .filter(pk=cluster_id)
            .first()
        )
        if cluster is None:
            raise ValidationError({"cluster": ["no such hotspot cluster"]})
        raw = str(request.data.get("interval_days", "") or "").strip()
        if raw and (not raw.isdigit() or not 1 <= int(raw) <= 365):
            raise ValidationError({"interval_days": ["expected 1 to 365 days"]})
        try:
            work, report, assignment = preventive_work_create(
                cluster=cluster, interval_days=int(raw) if raw else None, actor=request.user
            )
        except PreventiveWorkError as error:
            raise ValidationError({error.field: [error.reason]}) from error
        language = get_language() or "en"
        crew = assignment.crew if assignment else None
        return Response(
            {
                "id": work.pk,
                "interval_days": work.interval_days,
                "next_due_at": work.next_due_at.isoformat(),
                "tracking_number": report.tracking_number,
                "status": report.status,
                "crew": crew.code if crew else None,
                "crew_name": crew.name(language) if crew else None,
                "interval_choices": INTERVAL_CHOICES,
            },
            status=201,
        )
