"""PreventiveWork moves here from maps, with its rows: the table is renamed, nothing is copied.
Only the state is created here (maps 0005 deletes the maps model from the state); the check
constraint keeps the name maps gave it. Its content type (and permissions) follow it."""

import django.contrib.gis.db.models.fields
import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models

from geo_ops.db.content_types import content_types_move


def content_types_forwards(apps, schema_editor):
    content_types_move(
        apps=apps, models=("preventivework",), from_label="maps", to_label="fieldteams"
    )


def content_types_backwards(apps, schema_editor):
    content_types_move(
        apps=apps, models=("preventivework",), from_label="fieldteams", to_label="maps"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("fieldteams", "0004_hotspot_cluster_moved"),
        ("hotspots", "0001_initial"),
        ("layers", "0001_initial"),
        ("maps", "0004_preventive_work"),
        ("reports", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql="ALTER TABLE maps_preventivework RENAME TO fieldteams_preventivework",
                    reverse_sql="ALTER TABLE fieldteams_preventivework RENAME TO maps_preventivework",
                ),
            ],
            state_operations=[
                migrations.CreateModel(
                    name='PreventiveWork',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('location', django.contrib.gis.db.models.fields.PointField(srid=4326)),
                        ('hull', django.contrib.gis.db.models.fields.PolygonField(blank=True, null=True, srid=4326)),
                        ('description', models.TextField()),
                        ('interval_days', models.PositiveSmallIntegerField()),
                        ('next_due_at', models.DateTimeField()),
                        ('active', models.BooleanField(default=True)),
                        ('jobs_created', models.PositiveIntegerField(default=0)),
                        ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('branch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='layers.branchmunicipality')),
                        ('category', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reports.category')),
                        ('cluster', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='hotspots.hotspotcluster')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('last_report', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='reports.report')),
                        ('subcategory', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reports.category')),
                    ],
                    options={
                        'ordering': ['next_due_at', 'id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('interval_days__gte', 1)), name='maps_preventive_interval_positive')],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards),
    ]
