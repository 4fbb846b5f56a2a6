"""Crews from a file: upsert crews with their skills, branches, depot and weekly shifts."""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.gis.geos import Point
from django.db import connection, transaction

from geo_ops.reports.models import Category
from layers.models import BranchMunicipality

from ..models import Crew, CrewShift, Department

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass
class CrewLoadSummary:
    """What `crews_load` did or, in a dry run, would do; `errors` name crew and field."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _depot_valid(depot) -> bool:
    return (
        isinstance(depot, list)
        and len(depot) == 2
        and all(isinstance(v, int | float) for v in depot)
        and -180 <= depot[0] <= 180
        and -90 <= depot[1] <= 90
    )


def _shift_errors(code: str, shifts: list[dict]) -> list[str]:
    errors = []
    for shift in shifts:
        days = shift.get("days") or []
        if not days or any(day not in WEEKDAYS for day in days):
            errors.append(f"{code}: shift days must be among {', '.join(WEEKDAYS)}")
        for key in ("starts", "ends"):
            try:
                datetime.strptime(shift.get(key, ""), "%H:%M")
            except (TypeError, ValueError):
                errors.append(f"{code}: shift {key} must be HH:MM")
    return errors


def _crew_errors(item: dict, *, departments, categories, branches) -> list[str]:
    code = item.get("code") or "?"
    errors = [
        f"{code}: {key} is required"
        for key in ("code", "name_en", "name_ar", "department", "skills", "branches", "depot")
        if not item.get(key)
    ]
    if item.get("department") and item["department"] not in departments:
        errors.append(f"{code}: unknown department {item['department']!r}")
    errors += [
        f"{code}: unknown category {skill!r}"
        for skill in item.get("skills") or []
        if skill not in categories
    ]
    errors += [
        f"{code}: unknown branch municipality {branch!r}"
        for branch in item.get("branches") or []
        if branch not in branches
    ]
    if item.get("depot") and not _depot_valid(item["depot"]):
        errors.append(f"{code}: depot must be [longitude, latitude]")
    capacity = item.get("capacity_per_shift", 8)
    if not isinstance(capacity, int) or capacity < 1:
        errors.append(f"{code}: capacity_per_shift must be a whole number above 0")
    return errors + _shift_errors(code, item.get("shifts") or [])


def crews_load(*, items: list[dict], commit: bool) -> CrewLoadSummary:
    """Upsert crews (with skills, branches, depot and weekly shifts) by code.

    Everything is checked first, including that each depot lies inside one of the crew's branch
    municipalities (one set-based query over the subdivided boundaries); with any error nothing
    is written. Without `commit` nothing is written either: a dry run.
    """
    summary = CrewLoadSummary()
    departments = dict(Department.objects.values_list("code", "id"))
    categories = dict(Category.objects.values_list("code", "id"))
    branches = dict(BranchMunicipality.objects.values_list("code", "id"))
    seen = set()
    for item in items:
        if item.get("code") in seen:
            summary.errors.append(f"{item['code']}: the code appears twice")
        seen.add(item.get("code"))
        summary.errors += _crew_errors(
            item, departments=departments, categories=categories, branches=branches
        )
    if summary.errors:
        return summary
    # Which of each crew's branches contains its depot: one statement for the whole file.
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT v.code, array_agg(DISTINCT p.branch_id)
            FROM unnest(%(codes)s::text[], %(lons)s::float8[], %(lats)s::float8[])
                AS v(code, lon, lat)
            LEFT JOIN layers_branchmunicipalitypiece AS p
              ON ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326))
            GROUP BY v.code""",
            {
                "codes": [i["code"] for i in items],
                "lons": [float(i["depot"][0]) for i in items],
                "lats": [float(i["depot"][1]) for i in items],
            },
        )
        inside = {code: {b for b in ids if b} for code, ids in cursor.fetchall()}
    for item in items:
        if not inside.get(item["code"], set()) & {branches[b] for b in item["branches"]}:
            summary.errors.append(
                f"{item['code']}: depot {item['depot']} is outside its branch municipalities"
            )
    if summary.errors:
        return summary
    existing = set(Crew.objects.filter(code__in=seen).values_list("code", flat=True))
    for item in items:
        (summary.updated if item["code"] in existing else summary.created).append(item["code"])
    if not commit:
        return summary
    with transaction.atomic():
        for item in items:
            crew, _created = Crew.objects.update_or_create(
                code=item["code"],
                defaults={
                    "name_en": item["name_en"],
                    "name_ar": item["name_ar"],
                    "department_id": departments[item["department"]],
                    "depot": Point(*map(float, item["depot"]), srid=4326),
                    "capacity_per_shift": item.get("capacity_per_shift", 8),
                    "active": item.get("active", True),
                },
            )
            crew.skills.set([categories[c] for c in item["skills"]])
            crew.branches.set([branches[b] for b in item["branches"]])
            crew.shifts.all().delete()
            CrewShift.objects.bulk_create(
                [
                    CrewShift(
                        crew=crew,
                        weekday=WEEKDAYS[day],
                        starts=shift["starts"],
                        ends=shift["ends"],
                        works_holidays=shift.get("works_holidays", False),
                    )
                    for shift in item.get("shifts") or []
                    for day in shift["days"]
                ]
            )
    return summary
