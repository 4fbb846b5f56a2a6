"""Keeps reports joined to the right boundary when the boundary layers change."""

from django.db import connection
from django.dispatch import receiver

from layers.selectors import boundary_join_sql
from layers.signals import boundaries_changed

from .models import EventKind, Report, ReportEvent


@receiver(boundaries_changed, dispatch_uid="reports_rejoin_after_boundary_change")
def rejoin_reports(sender, *, layer: str, ids: list[int], **kwargs) -> int:
    """Re-join, in one statement, every report that was in or now falls in a changed boundary.

    Raw SQL because the join is a LATERAL subquery the ORM cannot express. The candidates are the
    reports currently joined to a changed boundary plus those inside its new pieces; each gets
    the boundary the shared join returns, and an audit event when it moved.
    """
    column = {"branch": "branch_id", "district": "district_id"}[layer]
    piece_table = {"branch": "layers_branchmunicipalitypiece", "district": "layers_districtpiece"}[
        layer
    ]
    table = Report._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH candidates AS (
                SELECT id, location, {column} AS old_id FROM {table} WHERE {column} = ANY(%(ids)s)
                UNION
                SELECT r.id, r.location, r.{column} FROM {table} AS r
                JOIN {piece_table} AS piece
                  ON piece.{column} = ANY(%(ids)s) AND ST_Intersects(piece.geom, r.location)
            ),
            joined AS (
                SELECT c.id, c.old_id, {layer}_join.{column} AS new_id
                FROM candidates AS c {boundary_join_sql(point_sql="c.location")}
            ),
            moved AS (
                UPDATE {table} AS r SET {column} = joined.new_id, updated_at = now()
                FROM joined
                WHERE r.id = joined.id AND joined.new_id IS DISTINCT FROM joined.old_id
                RETURNING r.id, joined.old_id, joined.new_id, r.status
            )
            INSERT INTO {ReportEvent._meta.db_table}
                (report_id, created_at, actor_label, kind, from_status, to_status,
                 note, public, data)
            SELECT id, now(), 'import_boundaries', %(kind)s, status, status, %(note)s, false,
                   jsonb_build_object('layer', %(layer)s, 'from', old_id, 'to', new_id)
            FROM moved
            """,
            {
                "ids": ids,
                "kind": EventKind.REJOINED,
                "note": f"{layer} boundary changed",
                "layer": layer,
            },
        )
        return cursor.rowcount
