"""Route stops and dropped stops point at hotspots.HotspotCluster (moved from maps). State only:
the database's foreign keys followed the table when hotspots 0001 renamed it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fieldteams", "0003_route_plans"),
        ("hotspots", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model_name,
                    name="cluster",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="hotspots.hotspotcluster",
                    ),
                )
                for model_name in ("routestop", "routedrop")
            ],
        ),
    ]
