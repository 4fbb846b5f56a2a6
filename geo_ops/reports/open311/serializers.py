"""Open311 documents as plain dicts and lists, in the spec's field names and order."""

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from layers.models import BranchMunicipality

from ..models import FINAL_STATUSES, Category, Report

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this API's behaviour last changed (the spec's "changeset"); bump on changes.
CHANGESET = "2026-11-28T00:00:00+03:00"


def _datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")


def _description(category: Category, language: str) -> str:
    text = category.description_ar if language == "ar" else category.description_en
    return text or category.name(language)


def discovery_dict(*, base_url: str) -> dict:
    return {
        "changeset": CHANGESET,
        "contact": getattr(
            settings, "GEO_OPS_OPEN311_CONTACT", "Eastern Province Amanah, 940 call centre"
        ),
        "key_service": getattr(
            settings,
            "GEO_OPS_OPEN311_KEY_SERVICE",
            "API keys for POST are issued by the administrator (manage.py create_api_key NAME).",
        ),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }


def service_dict(*, service: Category, language: str) -> dict:
    return {
        "service_code": service.code,
        "service_name": service.name(language),
        "description": _description(service, language),
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": service.parent.name(language),
    }


def service_definition_dict(*, service: Category) -> dict:
    return {"service_code": service.code, "attributes": []}


def _branch_name(branch: BranchMunicipality | None, language: str) -> str:
    if branch is None:
        return ""
    return (branch.name_ar if language == "ar" else "") or branch.name_en


def request_dict(*, report: Report, language: str) -> dict:
    """A service request for the public: never any reporter contact data.

    Expects a report from `selectors.request_queryset()` (category, subcategory, branch and the
    `status_notes` annotation loaded).
    """
    service = report.subcategory or report.category
    # Location and free text as the public may see them (geo_ops.reports.privacy).
    location = report.public_location
    return {
        "service_request_id": report.tracking_number,
        "status": "closed" if report.status in FINAL_STATUSES else "open",
        "status_notes": report.status_notes or "",
        "service_name": service.name(language),
        "service_code": service.code,
        "description": report.public_description,
        "agency_responsible": _branch_name(report.branch, language),
        "requested_datetime": _datetime(report.created_at),
        "updated_datetime": _datetime(report.updated_at),
        "expected_datetime": _datetime(report.due_at),
        "address": report.public_address,
        "lat": location.y if location else None,
        "long": location.x if location else None,
        "media_url": report.media_url,
    }


def request_created_dict(*, report: Report, account_id: str | None) -> dict:
    return {
        "service_request_id": report.tracking_number,
        # The tracking number is assigned at once, so it also serves as the token.
        "token": report.tracking_number,
        "service_notice": "",
        "account_id": account_id,
    }


def token_dict(*, report: Report) -> dict:
    return {"service_request_id": report.tracking_number, "token": report.tracking_number}
