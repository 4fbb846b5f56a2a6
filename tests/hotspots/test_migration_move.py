"""Moving the hotspot models to geo_ops.hotspots and PreventiveWork to fieldteams keeps their rows
and the permissions granted on them: the database is taken back to the schema before the move
(maps 0004, fieldteams 0003), filled there, and migrated forward again."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_THE_MOVE = [("hotspots", None)]  # unapplies what depends on it: fieldteams 0004-5, maps 0005
OLD_STATE = [("maps", "0004_preventive_work"), ("fieldteams", "0003_route_plans")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def _latest():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.loader.graph.leaf_nodes()


def _fill_old_schema(old) -> dict:
    """Rows in the maps tables, through the models as they were before the move."""
    category = old.get_model("reports", "Category").objects.filter(parent__isnull=True).first()
    branch = old.get_model("layers", "BranchMunicipality").objects.first()
    run_model = old.get_model("maps", "HotspotRun")
    day = datetime(2025, 3, 1, tzinfo=UTC)
    run = run_model.objects.create(
        kind="clusters", category=category, branch=branch, date_from=day, date_to=day,
        params={"eps": 175}, signature="before-the-move", fingerprint="fp", trigger="test",
        reports=12, results=1,
    )  # fmt: skip
    hull = "SRID=4326;POLYGON((50 26.4, 50.01 26.4, 50.01 26.41, 50 26.4))"
    cluster = old.get_model("maps", "HotspotCluster").objects.create(
        run=run, category=category, hull=hull, centroid="SRID=4326;POINT(50.005 26.403)",
        area_m2=1000, report_count=12, first_report_at=day, last_report_at=day, branch=branch,
        score=3.5, eps_m=175, min_points=4, weekly_counts=[1, 2],
    )  # fmt: skip
    hexagon_run = run_model.objects.create(
        kind="hexagons", date_from=day, date_to=day, signature="hex", fingerprint="fp"
    )
    old.get_model("maps", "HotspotHexagon").objects.create(
        run=hexagon_run, h3_index="8843a1", resolution=8, report_count=5, z_score=2.5,
        p_value=0.01, bin=3,
    )  # fmt: skip
    work = old.get_model("maps", "PreventiveWork").objects.create(
        cluster=cluster, category=category, branch=branch, location=cluster.centroid, hull=hull,
        description="before the move", interval_days=14, next_due_at=day,
    )  # fmt: skip
    permission = old.get_model("auth", "Permission").objects.get(
        content_type__app_label="maps", codename="use_planner"
    )
    group = old.get_model("auth", "Group").objects.create(name="planners-before-the-move")
    group.permissions.add(permission)
    return {"run": run.pk, "cluster": cluster.pk, "work": work.pk, "group": group.pk}


@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_rows_foreign_keys_and_permissions(reference_data):
    ContentType.objects.clear_cache()
    try:
        _migrate(BEFORE_THE_MOVE)
        old = MigrationExecutor(connection).loader.project_state(OLD_STATE).apps
        ids = _fill_old_schema(old)
        _migrate(_latest())
    finally:
        # Whatever happened, leave the (reused) test database at the latest schema.
        _migrate(_latest())
        ContentType.objects.clear_cache()

    from django.contrib.auth.models import Group

    from fieldteams.models import PreventiveWork
    from geo_ops.hotspots.models import HotspotCluster, HotspotHexagon, HotspotRun

    run = HotspotRun.objects.get(pk=ids["run"])
    assert (run.signature, run.params, run.reports) == ("before-the-move", {"eps": 175}, 12)
    cluster = HotspotCluster.objects.get(pk=ids["cluster"])
    assert cluster.run_id == run.pk and cluster.weekly_counts == [1, 2]
    assert HotspotHexagon.objects.get(h3_index="8843a1").bin == 3
    work = PreventiveWork.objects.get(pk=ids["work"])
    assert work.cluster_id == cluster.pk and work.description == "before the move"
    # New rows carry on after the moved ones (the identity sequences followed their tables).
    assert HotspotRun.objects.create(
        kind="hexagons", date_from=run.date_from, date_to=run.date_to, signature="after",
        fingerprint="fp",
    ).pk > ids["run"]  # fmt: skip

    # The grant on maps.use_planner is now the same grant on hotspots.use_planner.
    group = Group.objects.get(pk=ids["group"])
    assert list(group.permissions.values_list("content_type__app_label", "codename")) == [
        ("hotspots", "use_planner")
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid = 'hotspots_hotspotcluster'::regclass ORDER BY 1"
        )
        referencing = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT to_regclass('maps_hotspotrun'), to_regclass('maps_preventivework')")
        assert cursor.fetchone() == (None, None)
    assert referencing == [
        "fieldteams_preventivework",
        "fieldteams_routedrop",
        "fieldteams_routestop",
    ]
