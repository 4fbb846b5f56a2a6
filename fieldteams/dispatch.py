"""The dispatch engine: which crews may take a report, and which of them should.

Eligible crews are active, skilled for the report's category (a crew skilled for a top-level
category takes all its subcategories), cover the report's branch municipality, have not declined
this report before, and hold fewer open jobs than their capacity per shift.

Among them the lowest cost wins:

    cost = W_open_job * open jobs
         + W_due_earlier * open jobs falling due before this report (SLA urgency: the crew
           does those first, so each one pushes this job back; a report due soon therefore
           goes to a crew without earlier deadlines)
         + W_km * kilometres from the crew's depot or from its nearest open job, whichever is
           nearer (geodesic distance on the WGS84 spheroid: PostGIS geography, or pyproj's
           Geod for jobs assigned earlier in the same batch; never degrees)
         + W_shift_hour * hours until the crew's next shift starts (0 while on shift, and for a
           crew without a shift calendar): a report at night goes to the night crew

with the weights of settings.GEO_OPS_DISPATCH_WEIGHTS (defaults 1, 1, 0.5 and 0.25: two
kilometres or four hours' wait weigh as much as one more job). Ties are broken by fewer open
jobs, then shorter distance, then the crew code, so the same data always gives the same crew.

The eligibility, workloads and distances come from one set-based statement for any number of
reports (`candidates_for`): intake asks it for one report, `dispatch_backlog` for a batch. The
ranking of the few candidate crews of a report is plain Python (`Dispatcher`), which also keeps
track of the jobs handed out earlier in a batch.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from pyproj import Geod

from geo_ops.db.prepared import PreparedStatement
from geo_ops.reports.models import Category

from .models import ACTIVE_STATES, AssignmentState

_GEOD = Geod(ellps="WGS84")
DEFAULT_WEIGHTS = {"open_job": 1.0, "due_earlier": 1.0, "km": 0.5, "shift_hour": 0.25}
_ACTIVE_SQL = ", ".join(f"'{state.value}'" for state in ACTIVE_STATES)

# Raw SQL: the per-crew workload and nearest-job distance are LATERAL subqueries, which the ORM
# cannot express; one round trip serves one report or a batch. Distances are on geography (the
# spheroid), so they are metres at every latitude. The workload subquery uses the partial index
# fieldteams_assign_crew_active (its predicate is written out identically). A prepared statement:
# planning it took five times as long as running it (PreparedStatement, bench/live_intake.py).
CANDIDATES_SQL = f"""
WITH r AS (
    SELECT rr.id, rr.location, rr.category_id, rr.subcategory_id, rr.branch_id, v.due_at
    FROM unnest(%(ids)s::bigint[], %(dues)s::timestamptz[]) AS v(id, due_at)
    JOIN reports_report AS rr ON rr.id = v.id
)
SELECT r.id, c.id, c.code, c.capacity_per_shift, skill.category_id,
       w.open_jobs, w.due_earlier,
       ST_Distance(c.depot::geography, r.location::geography),
       w.nearest_job_m,
       (SELECT array_agg(ARRAY[s.weekday, (extract(epoch FROM s.starts) / 60)::int,
                               (extract(epoch FROM s.ends) / 60)::int, s.works_holidays::int])
        FROM fieldteams_crewshift AS s WHERE s.crew_id = c.id) AS shifts
FROM r
JOIN fieldteams_crew_branches AS cb ON cb.branchmunicipality_id = r.branch_id
JOIN fieldteams_crew AS c ON c.id = cb.crew_id AND c.active
JOIN LATERAL (
    SELECT cs.category_id FROM fieldteams_crew_skills AS cs
    WHERE cs.crew_id = c.id AND cs.category_id IN (r.category_id, r.subcategory_id)
    ORDER BY cs.category_id = r.subcategory_id DESC NULLS LAST
    LIMIT 1
) AS skill ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS open_jobs,
           count(*) FILTER (WHERE j.due_at < r.due_at) AS due_earlier,
           min(ST_Distance(j.location::geography, r.location::geography)) AS nearest_job_m
    FROM fieldteams_assignment AS a
    JOIN reports_report AS j ON j.id = a.report_id
    WHERE a.crew_id = c.id AND a.state IN ({_ACTIVE_SQL}) AND a.report_id <> r.id
) AS w ON true
WHERE NOT EXISTS (
    SELECT 1 FROM fieldteams_assignment AS d
    WHERE d.report_id = r.id AND d.crew_id = c.id AND d.state = '{AssignmentState.DECLINED.value}'
)
"""

CANDIDATES_STATEMENT = PreparedStatement(
    "fieldteams_dispatch_candidates", CANDIDATES_SQL, {"ids": "bigint[]", "dues": "timestamptz[]"}
)

# Why no crew fits a report: how many active crews have the skill, and the codes of those that
# also cover the branch. A prepared statement, as it runs at intake whenever no crew fits (the
# ORM's aggregate cost more to compile than to run).
NO_CREW_STATEMENT = PreparedStatement(
    "fieldteams_dispatch_no_crew",
    """
    SELECT count(DISTINCT c.id),
           array_agg(DISTINCT c.code ORDER BY c.code)
               FILTER (WHERE cb.branchmunicipality_id = %(branch)s)
    FROM fieldteams_crew AS c
    JOIN fieldteams_crew_skills AS cs ON cs.crew_id = c.id
    LEFT JOIN fieldteams_crew_branches AS cb ON cb.crew_id = c.id
    WHERE c.active AND cs.category_id = ANY(%(categories)s)
    """,
    {"categories": "bigint[]", "branch": "bigint"},
)


@dataclass
class Candidate:
    """A crew that is active, skilled and covers the report's branch, with its workload."""

    crew_id: int
    code: str
    capacity: int
    skill_id: int
    open_jobs: int
    due_earlier: int
    depot_m: float
    nearest_job_m: float | None
    # Weekly shifts as [weekday, start minute, end minute, works holidays]; empty: always on.
    shifts: list = field(default_factory=list)
    wait_h: float = 0.0  # hours until the next shift starts (Dispatcher fills it in)

    @property
    def distance_m(self) -> float:
        if self.nearest_job_m is None:
            return self.depot_m
        return min(self.depot_m, self.nearest_job_m)

    @property
    def from_job(self) -> bool:
        return self.nearest_job_m is not None and self.nearest_job_m < self.depot_m

    @property
    def has_capacity(self) -> bool:
        return self.open_jobs < self.capacity

    def cost(self, weights: dict) -> float:
        return (
            weights["open_job"] * self.open_jobs
            + weights["due_earlier"] * self.due_earlier
            + weights["km"] * self.distance_m / 1000.0
            + weights["shift_hour"] * self.wait_h
        )

    def sort_key(self, weights: dict) -> tuple:
        # Rounded so that float noise cannot reorder equal costs: the tie-breaks decide then.
        return (round(self.cost(weights), 6), self.open_jobs, round(self.distance_m, 1), self.code)


@dataclass(frozen=True)
class ReportFacts:
    """What dispatch needs of a report, without loading the model."""

    id: int
    lon: float
    lat: float
    category_id: int
    subcategory_id: int | None
    branch_id: int | None
    due_at: datetime | None
    specific_name: str = ""  # the (sub)category's English name, for the reason


@dataclass
class Decision:
    """The outcome for one report: a crew with the reason, or none with the reason."""

    report: ReportFacts
    crew_id: int | None
    reason: str
    score: float | None = None
    distance_m: float | None = None


def candidates_for(
    report_ids: list[int], *, due: dict[int, datetime | None]
) -> dict[int, list[Candidate]]:
    """Every skilled, covering, active crew that has not declined it, per report id.

    `due` gives each report's SLA due time (it may not be stored yet), for the crews' count of
    open jobs falling due before it.
    """
    found: dict[int, list[Candidate]] = defaultdict(list)
    if not report_ids:
        return found
    ids = list(report_ids)
    with connection.cursor() as cursor:
        CANDIDATES_STATEMENT.execute(cursor, {"ids": ids, "dues": [due.get(i) for i in ids]})
        for row in cursor.fetchall():
            found[row[0]].append(
                Candidate(
                    crew_id=row[1],
                    code=row[2],
                    capacity=row[3],
                    skill_id=row[4],
                    open_jobs=row[5] or 0,
                    due_earlier=row[6] or 0,
                    depot_m=row[7],
                    nearest_job_m=row[8],
                    shifts=row[9] or [],
                )
            )
    return found


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class Dispatcher:
    """Ranks candidates and remembers the jobs it handed out, for the next report of a batch."""

    def __init__(self, *, weights: dict | None = None, now: datetime | None = None):
        self.weights = {
            **DEFAULT_WEIGHTS,
            **getattr(settings, "GEO_OPS_DISPATCH_WEIGHTS", {}),
            **(weights or {}),
        }
        self.now = now or timezone.now()
        self._calendar = None
        # Jobs given out by this dispatcher, per crew: (lon, lat, due_at).
        self._given: dict[int, list[tuple[float, float, datetime | None]]] = defaultdict(list)
        self._names: dict[int, str] = {}

    def _category_name(self, category_id: int | None) -> str:
        if category_id is None:
            return ""
        if category_id not in self._names:
            self._names.update(dict(Category.objects.values_list("id", "name_en")))
        return self._names.get(category_id, str(category_id))

    def _hours_to_shift(self, shifts: list) -> float:
        """Hours from now until the crew is next on shift (0 while on shift or without a
        shift calendar). Shifts ending at or before their start run past midnight; holidays of
        the business calendar are off unless the shift works them."""
        if not shifts:
            return 0.0
        if self._calendar is None:
            from .calendar import working_calendar

            self._calendar = working_calendar()
        calendar = self._calendar
        now = self.now.astimezone(calendar.tz)
        best = None
        for offset in range(-1, 8):
            day = now.date() + timedelta(days=offset)
            midnight = datetime.combine(day, time.min, tzinfo=calendar.tz)
            for weekday, start_min, end_min, works_holidays in shifts:
                if day.weekday() != weekday or (day in calendar.holidays and not works_holidays):
                    continue
                start = midnight + timedelta(minutes=start_min)
                end = midnight + timedelta(minutes=end_min)
                if end <= start:
                    end += timedelta(days=1)
                if start <= now < end:
                    return 0.0
                if start > now:
                    wait = (start - now).total_seconds() / 3600
                    best = wait if best is None else min(best, wait)
        return best if best is not None else 24.0 * 8  # no shift within a week

    def _with_batch(self, report: ReportFacts, candidate: Candidate) -> Candidate:
        """The candidate's workload including the jobs this dispatcher already gave it."""
        given = self._given.get(candidate.crew_id)
        if not given:
            return candidate
        nearest = candidate.nearest_job_m
        lons = [job[0] for job in given]
        lats = [job[1] for job in given]
        _az, _back, metres = _GEOD.inv(
            lons, lats, [report.lon] * len(given), [report.lat] * len(given)
        )
        batch_nearest = float(min(metres))
        nearest = batch_nearest if nearest is None else min(nearest, batch_nearest)
        due_earlier = sum(
            1
            for _lon, _lat, due in given
            if due is not None and report.due_at is not None and due < report.due_at
        )
        return Candidate(
            crew_id=candidate.crew_id,
            code=candidate.code,
            capacity=candidate.capacity,
            skill_id=candidate.skill_id,
            open_jobs=candidate.open_jobs + len(given),
            due_earlier=candidate.due_earlier + due_earlier,
            depot_m=candidate.depot_m,
            nearest_job_m=nearest,
            shifts=candidate.shifts,
            wait_h=candidate.wait_h,
        )

    def decide(
        self, *, report: ReportFacts, candidates: list[Candidate], branch_name: str
    ) -> Decision:
        """The best eligible crew for the report, or no crew and why."""
        if report.branch_id is None:
            return Decision(report, None, "the report is outside every branch municipality")
        candidates = [self._with_batch(report, c) for c in candidates]
        for candidate in candidates:
            candidate.wait_h = self._hours_to_shift(candidate.shifts)
        eligible = [c for c in candidates if c.has_capacity]
        specific = report.specific_name or self._category_name(
            report.subcategory_id or report.category_id
        )
        if not eligible:
            return Decision(
                report, None, self._no_crew_reason(report, candidates, specific, branch_name)
            )
        eligible.sort(key=lambda c: c.sort_key(self.weights))
        best = eligible[0]
        where = "its nearest open job" if best.from_job else "its depot"
        parts = [
            # The report's own (sub)category: the crew has it, or its whole category.
            f"skill {specific}",
            f"covers branch {branch_name}",
            _plural(best.open_jobs, "open job", "open jobs"),
        ]
        if best.shifts:
            parts.append("on shift" if not best.wait_h else f"next shift in {best.wait_h:.1f} h")
        if best.due_earlier:
            parts.append(f"{best.due_earlier} due earlier")
        parts.append(f"{best.distance_m / 1000:.1f} km from {where}")
        reason = ", ".join(parts)
        if len(eligible) > 1:
            reason += (
                f" (best of {len(eligible)} eligible crews, cost {best.cost(self.weights):.2f})"
            )
        self._given[best.crew_id].append((report.lon, report.lat, report.due_at))
        return Decision(
            report,
            best.crew_id,
            reason,
            score=best.cost(self.weights),
            distance_m=best.distance_m,
        )

    @staticmethod
    def _no_crew_reason(
        report: ReportFacts, candidates: list[Candidate], specific: str, branch_name: str
    ) -> str:
        if candidates:
            full = ", ".join(
                f"{c.code} {c.open_jobs}/{c.capacity}"
                for c in sorted(candidates, key=lambda c: c.code)
            )
            return (
                f"no crew has capacity: every crew skilled for {specific} in branch "
                f"{branch_name} is full ({full})"
            )
        categories = [report.category_id] + (
            [report.subcategory_id] if report.subcategory_id else []
        )
        # Which rule left nobody: one query (this path runs at intake whenever no crew fits).
        with connection.cursor() as cursor:
            NO_CREW_STATEMENT.execute(
                cursor, {"categories": categories, "branch": report.branch_id}
            )
            skilled, covering = cursor.fetchone()
        counts = {"skilled": skilled, "covering": covering or []}
        if not counts["skilled"]:
            return f"no active crew is skilled for {specific}"
        if not counts["covering"]:
            return f"no active crew skilled for {specific} covers branch {branch_name}"
        declined = ", ".join(sorted(counts["covering"]))
        return f"every crew skilled for {specific} in branch {branch_name} declined it ({declined})"
