"""Serializers of the crew and supervisor API: shapes only; rules are in services/selectors.

A crew's job never carries the reporter's name or e-mail; the phone only where the category
lets crews call back (`selectors.callback_phone_expression`).
"""

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from geo_ops.reports.models import Report

from ..models import Assignment, AssignmentState
from ..services import allowed_transitions


def _names(category) -> dict | None:
    if category is None:
        return None
    return {"code": category.code, "name_en": category.name_en, "name_ar": category.name_ar}


# A directions link for phones without a geo: handler (settings.GEO_OPS_NAVIGATION_URL).
NAVIGATION_URL = "https://www.google.com/maps/dir/?api=1&destination={lat},{lon}"


def navigation_links(lon: float, lat: float) -> dict:
    """Links that open the phone's navigation app at the job: a geo: URI (Android, most apps)
    and a directions link (iOS, desktop), both from coordinates only."""
    template = getattr(settings, "GEO_OPS_NAVIGATION_URL", NAVIGATION_URL)
    return {
        "geo": f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}",
        "web": template.format(lat=f"{lat:.6f}", lon=f"{lon:.6f}"),
    }


def job_feature(assignment: Assignment, *, order: int | None = None) -> dict:
    """One job as a GeoJSON Feature (exact location: the crew must find the spot)."""
    report = assignment.report
    lon, lat = report.location.x, report.location.y
    now = timezone.now()
    properties = {
        "order": order,
        "assignment": assignment.pk,
        "state": assignment.state,
        "state_label": str(AssignmentState(assignment.state).label),
        "transitions": allowed_transitions(assignment.state) if assignment.is_active else [],
        "tracking_number": report.tracking_number,
        "report_status": report.status,
        "category": _names(report.category),
        "subcategory": _names(report.subcategory),
        "description": report.description,
        "address": report.address,
        "media_url": report.media_url,
        "priority": report.priority,
        "due_at": report.due_at.isoformat() if report.due_at else None,
        "overdue": bool(report.due_at and report.due_at < now and assignment.is_active),
        "reports_count": 1 + (report.duplicate_count or 0),
        "branch": report.branch.code if report.branch_id else None,
        "received_at": report.created_at.isoformat(),
        "assigned_at": assignment.created_at.isoformat() if assignment.created_at else None,
        "callback_phone": getattr(assignment, "callback_phone", "") or None,
        "navigation": navigation_links(lon, lat),
        "completion_note": assignment.completion_note or None,
    }
    return {
        "type": "Feature",
        "id": assignment.pk,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


class TransitionSerializer(serializers.Serializer):
    """POST body of /crew/jobs/{id}/transition/ (JSON or multipart with a photo)."""

    to = serializers.ChoiceField(choices=AssignmentState.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    lat = serializers.JSONField(required=False)
    lon = serializers.JSONField(required=False)
    location = serializers.JSONField(required=False, help_text='GeoJSON {"type": "Point", ...}')
    photo = serializers.ImageField(required=False)
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def validate_photo(self, photo):
        if photo is not None and photo.size > 8 * 1024 * 1024:
            raise serializers.ValidationError("At most 8 MB.")
        return photo

    def validate(self, attrs):
        location = attrs.pop("location", None)
        if location is not None:
            coordinates = location.get("coordinates") if isinstance(location, dict) else None
            if not isinstance(coordinates, list | tuple) or len(coordinates) != 2:
                raise serializers.ValidationError(
                    {
                        "location": 'Must be a GeoJSON Point: {"type": "Point", "coordinates": '
                        "[lon, lat]}."
                    }
                )
            attrs["lon"], attrs["lat"] = coordinates
        if ("lat" in attrs) != ("lon" in attrs):
            raise serializers.ValidationError({"location": "Give both lat and lon."})
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class ReassignSerializer(ReasonSerializer):
    crew = serializers.CharField(help_text="crew code")


class MergeSerializer(serializers.Serializer):
    into = serializers.CharField(help_text="tracking number of the report to keep")


def queue_feature(report: Report) -> dict:
    """A report in a supervisor's queue, as a GeoJSON Feature."""
    active = (getattr(report, "active_assignments", None) or [None])[0]
    now = timezone.now()
    return {
        "type": "Feature",
        "id": report.pk,
        "geometry": {"type": "Point", "coordinates": [report.location.x, report.location.y]},
        "properties": {
            "tracking_number": report.tracking_number,
            "status": report.status,
            "priority": report.priority,
            "category": _names(report.category),
            "subcategory": _names(report.subcategory),
            "branch": report.branch.code if report.branch_id else None,
            "received_at": report.created_at.isoformat(),
            "due_at": report.due_at.isoformat() if report.due_at else None,
            "overdue": bool(report.due_at and report.due_at < now and report.status != "resolved"),
            "reports_count": 1 + (report.duplicate_count or 0),
            "crew": active.crew.code if active else None,
            "job_state": active.state if active else None,
            "job_reason": active.reason if active else None,
            "flags": [
                {"id": f.pk, "kind": f.kind, "reason": f.reason, "since": f.created_at.isoformat()}
                for f in getattr(report, "open_flags", [])
            ],
        },
    }
