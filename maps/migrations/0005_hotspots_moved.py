"""The hotspot models moved to geo_ops.hotspots (hotspots 0001) and PreventiveWork to fieldteams
(fieldteams 0005), which renamed their tables: only maps' state forgets them here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("fieldteams", "0004_hotspot_cluster_moved"),
        ("fieldteams", "0005_preventive_work"),
        ("hotspots", "0002_move_permissions"),
        ("maps", "0004_preventive_work"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # PreventiveWork first: it points at HotspotCluster, as the clusters and hexagons
                # point at HotspotRun.
                migrations.DeleteModel(name="PreventiveWork"),
                migrations.DeleteModel(name="HotspotHexagon"),
                migrations.DeleteModel(name="HotspotCluster"),
                migrations.DeleteModel(name="HotspotRun"),
            ],
        ),
    ]
