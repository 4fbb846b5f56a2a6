"""Step 2 of the bulk import: every row parsed, looked up and checked in SQL, against the
rules intake checks one report with (geo_ops.reports.rules) and the rules only files carry
(external_id, status, created_at, closed_at).

Whether a checked row is valid is a cheap predicate over its columns (`valid_sql`); its reasons
are spelled out only for the rows that fail it (`reasons_sql`), every fault in its `reason`, as
'code: detail; code: detail' with the code of the rule it breaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layers.selectors import grid_join_sql

from .. import rules
from ..models import Report, Status
from .parsing import (
    NON_FINITE_RE,
    char_length_at_most,
    quoted,
    timestamp_lookup_joins,
    timestamp_sql,
)

if TYPE_CHECKING:
    from .run import ImportRun

# closed_at is only meaningful once a report left the field work.
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED, Status.REJECTED, Status.DUPLICATE)
EXTERNAL_ID_MAX_CHARS = Report._meta.get_field("external_id").max_length
# Clock skew allowed between the source system and the database for "not in the future".
FUTURE_TOLERANCE = "5 minutes"


def params() -> dict:
    """The checks' query parameters but the cutoff (`cutoff_sql`, read once the import began)."""
    return {
        "channels": list(rules.CHANNEL.choices),
        "channels_text": rules.CHANNEL.choices_text,
        "statuses": list(Status.values),
        "statuses_text": ", ".join(Status.values),
        "closed_statuses": [str(s) for s in CLOSED_STATUSES],
        "closed_text": ", ".join(str(s) for s in CLOSED_STATUSES),
        "description_max": rules.DESCRIPTION.max_chars,
    }


def cutoff_sql() -> str:
    """The bound of "not in the future": the import's start plus a tolerance for clock skew,
    as a literal (cast once when the statement is parsed, not once per row like now() +
    interval)."""
    return f"SELECT (now() + interval '{FUTURE_TOLERANCE}')::text"


def check(run: ImportRun) -> None:
    """The checked table: every staged row parsed, its category looked up, already stored or
    not, and placed where its interior grid cell says so (locate places the rest)."""
    geometry_error = (  # COPY reads an empty field as NULL
        f"coalesce(s.{run.column['_geometry_error']}, '') <> ''"
        if "_geometry_error" in run.column
        else "false"
    )
    # Each layer's boundary where the point's interior grid cell gives it (see locate).
    place = {"branch": "NULL::bigint", "district": "NULL::bigint"}
    place_joins = []
    for layer, _ in run.layers:
        joins, owner = grid_join_sql(layer=layer, lon_sql="s.lon", lat_sql="s.lat", alias=layer)
        place[layer] = owner
        place_joins.append(joins)
    # Flat on purpose: every expensive expression appears once in the select list, and the
    # whole projection runs below the Gather, in parallel workers (a subquery would keep
    # its projection in the leader).
    run.execute(
        f"""CREATE UNLOGGED TABLE {run.checked} AS
        SELECT s.row_no, {run.col("external_id")} AS ext, {run.present} AS present,
               NULL::bigint AS first_row, {geometry_error} AS geometry_error,
               s.lon, s.lat, {place["branch"]} AS branch_id,
               {place["district"]} AS district_id,
               {timestamp_sql(run.raw("created_at"), "cr")} AS created_at,
               {run.col("closed_at")} IS NOT NULL AS closed_given,
               {timestamp_sql(run.raw("closed_at"), "cl")} AS closed_at,
               -- COLLATE "C": codes are ASCII, and lower() in "C" skips the conversion to
               -- wide characters and back that the database's C.UTF-8 locale takes.
               lower({run.col("channel")} COLLATE "C") AS channel,
               coalesce(lower({run.col("status")} COLLATE "C"), 'new') AS status,
               coalesce(btrim({run.raw("description")}, E' \\t\\r\\n'), '') AS description,
               cat.category_id, cat.subcategory_id, coalesce(cat.active, false)
                   AS category_active, cat.priority, cat.sla_hours
        FROM {run.stage} AS s
        {run.present_join}
        LEFT JOIN (
            -- A code resolved once: a subcategory stands for its parent category.
            SELECT c.code, coalesce(p.id, c.id) AS category_id,
                   CASE WHEN c.parent_id IS NOT NULL THEN c.id END AS subcategory_id,
                   {rules.CATEGORY_IN_USE_SQL} AS active,
                   c.default_priority AS priority, c.sla_hours
            FROM reports_category AS c LEFT JOIN reports_category AS p ON p.id = c.parent_id
        ) AS cat ON cat.code = {run.col("category")}
        {" ".join(place_joins)}
        {timestamp_lookup_joins(run.raw("created_at"), "cr")}
        {timestamp_lookup_joins(run.raw("closed_at"), "cl")}""",
        run.params,
    )
    run.step("validate")


def duplicates(run: ImportRun) -> None:
    """Mark every later row of an external_id that occurs more than once with its first row.

    Grouped over the checked table, where the trimmed id already is (trimming it again
    cost 0.6 s a million rows), in one serial hash aggregation: the table has no
    statistics, so the planner guesses 200 groups and picks a parallel partial
    aggregation that sorts and merges all of the million groups (2.9 s against 1.3 s on
    this 2-core machine).
    """
    with run.setting(max_parallel_workers_per_gather="0"):  # serial
        run.execute(
            f"""CREATE UNLOGGED TABLE {run.dups} AS
            SELECT ext, min(row_no) AS first_row FROM {run.checked}
            WHERE ext IS NOT NULL GROUP BY ext HAVING count(*) > 1"""
        )
    if run.scalar(f"SELECT EXISTS (SELECT 1 FROM {run.dups})"):
        # A few rows, but the planner cannot know: unanalysed, it would guess more and
        # might build its hash table from the million checked rows instead.
        run.execute(f"ANALYZE {run.dups}")
        run.execute(
            f"""UPDATE {run.checked} AS c SET first_row = d.first_row
            FROM {run.dups} AS d WHERE c.ext = d.ext AND c.row_no > d.first_row"""
        )
    run.step("duplicates")


def usable_sql(alias: str = "c") -> str:
    """lon and lat make a point on the globe (the only points a grid key is right for)."""
    lat, lon = rules.LAT.limit, rules.LON.limit
    return f"{alias}.lat BETWEEN -{lat} AND {lat} AND {alias}.lon BETWEEN -{lon} AND {lon}"


def valid_sql(c: str = "c") -> str:
    """True for a checked row to be inserted. Never NULL: NOT valid holds for all others.

    Cheap column tests only, for it is evaluated for every row.
    """
    return f"""coalesce({c}.branch_id IS NOT NULL AND {c}.first_row IS NULL
        AND {usable_sql(c)}
        AND NOT {c}.present AND NOT {c}.geometry_error
        AND {c}.ext IS NOT NULL AND {char_length_at_most(f"{c}.ext", EXTERNAL_ID_MAX_CHARS)}
        AND {c}.category_active
        AND {c}.channel = ANY(%(channels)s) AND {c}.status = ANY(%(statuses)s)
        AND {c}.created_at <= %(cutoff)s::timestamptz
        AND (NOT {c}.closed_given OR ({c}.status = ANY(%(closed_statuses)s)
             AND {c}.closed_at BETWEEN {c}.created_at AND %(cutoff)s::timestamptz))
        AND {char_length_at_most(f"{c}.description", "%(description_max)s")}, false)"""


def reasons_sql(run: ImportRun, c: str = "c", s: str = "s") -> str:
    """Every fault of a row that fails valid_sql, as 'code: detail; code: detail'."""
    faults = _Faults(run, c, s)
    return f"""CASE WHEN {c}.first_row IS NOT NULL
            THEN 'external_id_duplicate_in_file: ' || {quoted(f"{c}.ext")}
                || ' is already on row ' || {c}.first_row
        ELSE concat_ws('; ', {", ".join(faults.all())}) END"""


class _Faults:
    """The reason fragments of a checked row (alias c) with its staged text (alias s), one per
    rule, each NULL when the row meets the rule; the codes are the rules' `reason`."""

    def __init__(self, run: ImportRun, c: str, s: str):
        self.run, self.c, self.s = run, c, s

    def all(self) -> list[str]:
        return [
            self.external_id(),
            self.geometry(),
            self.coordinates_missing(),
            *(self.coordinate(coordinate) for coordinate in (rules.LAT, rules.LON)),
            self.service_area(),
            self.category(),
            self.channel(),
            self.status(),
            self.created_at(),
            self.closed_at(),
            self.description(),
        ]

    def text(self, name: str) -> str:
        return self.run.col(name, self.s)

    def quoted(self, name: str) -> str:
        return quoted(self.text(name))

    def external_id(self) -> str:
        c = self.c
        return f"""CASE WHEN {c}.ext IS NULL THEN 'external_id_missing: external_id is empty'
            WHEN length({c}.ext) > {EXTERNAL_ID_MAX_CHARS} THEN 'external_id_too_long: '
                || length({c}.ext) || ' characters, at most {EXTERNAL_ID_MAX_CHARS}' END"""

    def geometry(self) -> str:
        """A GeoJSON feature that is not a Point: its reason was written with the row."""
        if "_geometry_error" not in self.run.column:
            return "NULL"
        column = self.run.column["_geometry_error"]
        return f"""CASE WHEN {self.c}.geometry_error THEN {self.s}.{column}
            END"""

    def coordinates_missing(self) -> str:
        c, text = self.c, self.text
        return f"""CASE WHEN NOT {c}.geometry_error
                AND ({text("lat")} IS NULL OR {text("lon")} IS NULL)
            THEN '{rules.COORDINATE_MISSING.reason}: ' || CASE WHEN {text("lat")} IS NULL
                AND {text("lon")} IS NULL THEN 'lat and lon are empty'
                WHEN {text("lat")} IS NULL THEN 'lat is empty' ELSE 'lon is empty' END END"""

    def coordinate(self, coordinate: rules.Coordinate) -> str:
        c, axis, limit = self.c, coordinate.field, coordinate.limit
        text, value = self.text(axis), self.quoted(axis)
        return f"""CASE WHEN {text} IS NULL OR {c}.geometry_error
                OR abs({c}.{axis}) <= {limit} THEN NULL
            WHEN {text} ~* '{NON_FINITE_RE}' THEN '{rules.COORDINATE_NOT_FINITE.reason}: {axis} '
                || {value} || ' is not a finite number'
            WHEN {c}.{axis} IS NULL THEN '{rules.COORDINATE_NOT_A_NUMBER.reason}: {axis} '
                || {value} || ' is not a number'
            ELSE '{rules.COORDINATE_OUT_OF_RANGE.reason}: {axis} '
                || {value} || ' is outside -{limit}..{limit}' END"""

    def service_area(self) -> str:
        """A usable point that the spatial join placed nowhere (the duplicated and the stored
        rows were not placed at all)."""
        c = self.c
        return f"""CASE WHEN {c}.branch_id IS NULL AND {c}.first_row IS NULL AND NOT {c}.present
                AND abs({c}.lat) <= {rules.LAT.limit} AND abs({c}.lon) <= {rules.LON.limit}
            THEN '{rules.SERVICE_AREA.reason}: the point ' || {self.quoted("lon")} || ' '
                || {self.quoted("lat")} || ' (lon lat) is in no branch municipality' END"""

    def category(self) -> str:
        c, code = self.c, self.quoted("category")
        return f"""CASE WHEN {c}.category_active THEN NULL
            WHEN {self.text("category")} IS NULL
                THEN '{rules.CATEGORY_MISSING.reason}: category is empty'
            WHEN {c}.category_id IS NULL THEN '{rules.CATEGORY_UNKNOWN.reason}: no category or '
                || 'subcategory has the code ' || {code}
            ELSE '{rules.CATEGORY_INACTIVE.reason}: ' || {code} || ' is no longer in use'
            END"""

    def channel(self) -> str:
        c = self.c
        return f"""CASE WHEN {c}.channel = ANY(%(channels)s) THEN NULL
            WHEN {c}.channel IS NULL THEN '{rules.CHANNEL_MISSING.reason}: channel is empty'
            ELSE '{rules.CHANNEL.reason}: ' || {self.quoted("channel")} || ' is not one of '
                || %(channels_text)s END"""

    def status(self) -> str:
        return f"""CASE WHEN NOT {self.c}.status = ANY(%(statuses)s) THEN 'status_invalid: '
            || {self.quoted("status")} || ' is not one of ' || %(statuses_text)s END"""

    def created_at(self) -> str:
        c, value = self.c, self.quoted("created_at")
        return f"""CASE WHEN {c}.created_at <= %(cutoff)s::timestamptz THEN NULL
            WHEN {self.text("created_at")} IS NULL
                THEN 'created_at_missing: created_at is empty'
            WHEN {c}.created_at IS NULL THEN 'created_at_invalid: '
                || {value} || ' is not a date and time (ISO 8601, e.g. '
                || '2024-03-01 08:15:00 or 2024-03-01T08:15:00+03:00)'
            ELSE 'created_at_in_future: ' || {value}
                || ' is later than the import' END"""

    def closed_at(self) -> str:
        c, value = self.c, self.quoted("closed_at")
        return f"""CASE WHEN NOT {c}.closed_given THEN NULL
            WHEN {c}.closed_at IS NULL THEN 'closed_at_invalid: '
                || {value} || ' is not a date and time (ISO 8601)'
            WHEN {c}.status = ANY(%(statuses)s)
                AND NOT {c}.status = ANY(%(closed_statuses)s)
                THEN 'closed_at_not_allowed: a report with status ' || {c}.status
                || ' has no closed_at (only ' || %(closed_text)s || ')'
            WHEN {c}.closed_at < {c}.created_at THEN 'closed_at_before_created_at: '
                || {value} || ' is before created_at '
                || {self.quoted("created_at")}
            WHEN {c}.closed_at > %(cutoff)s::timestamptz
                THEN 'closed_at_in_future: ' || {value}
                || ' is later than the import' END"""

    def description(self) -> str:
        c = self.c
        return f"""CASE WHEN char_length({c}.description) > %(description_max)s
            THEN '{rules.DESCRIPTION.reason}: ' || char_length({c}.description)
                || ' characters, at most ' || %(description_max)s END"""
