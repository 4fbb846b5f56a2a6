"""Keeps reports joined to the right boundary when the boundary layers change."""

from django.dispatch import receiver

from layers.selectors import boundary_join_sql
from layers.signals import boundaries_changed

from .workflow import reports_rejoin


@receiver(boundaries_changed, dispatch_uid="reports_rejoin_after_boundary_change")
def rejoin_reports(sender, *, layer: str, ids: list[int], **kwargs) -> int:
    """Re-join, in one statement, every report that was in or now falls in a changed boundary.

    Raw SQL because the join is a LATERAL subquery the ORM cannot express. The candidates are the
    reports currently joined to a changed boundary plus those inside its new pieces; each gets
    the boundary the shared join returns, and an audit event when it moved (the workflow).
    """
    column = {"branch": "branch_id", "district": "district_id"}[layer]
    piece_table = {"branch": "layers_branchmunicipalitypiece", "district": "layers_districtpiece"}[
        layer
    ]
    candidates = f"""
        WITH candidates AS (
            SELECT id, location, {column} AS old_id FROM reports_report
            WHERE {column} = ANY(%(ids)s)
            UNION
            SELECT r.id, r.location, r.{column} FROM reports_report AS r
            JOIN {piece_table} AS piece
              ON piece.{column} = ANY(%(ids)s) AND ST_Intersects(piece.geom, r.location)
        )
        SELECT c.id, c.old_id, {layer}_join.{column} AS new_id
        FROM candidates AS c {boundary_join_sql(point_sql="c.location")}
    """
    return reports_rejoin(layer=layer, candidates_sql=candidates, params={"ids": ids})
