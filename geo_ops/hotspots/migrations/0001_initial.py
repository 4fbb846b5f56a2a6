"""The hotspot models move here from maps, with their rows: the tables are renamed, nothing is
copied. Only the state is created here (maps 0005 deletes the maps models from the state);
the index and constraint names stay those maps created (the models' Meta keeps them)."""

import django.contrib.gis.db.models.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

TABLES = ("hotspotrun", "hotspotcluster", "hotspothexagon")


def _renames(old: str, new: str) -> list[str]:
    return [f"ALTER TABLE {old}_{table} RENAME TO {new}_{table}" for table in TABLES]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ('layers', '0001_initial'),
        ('reports', '0001_initial'),
        # The tables to rename: created by maps 0002 (and referenced by maps 0004's
        # PreventiveWork and fieldteams 0003's route stops, whose foreign keys follow the rename).
        ('maps', '0004_preventive_work'),
        # Those route stops' foreign keys must exist before the rename (on a fresh database
        # fieldteams 0003 would otherwise point them at a table no longer there).
        ('fieldteams', '0003_route_plans'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(sql=_renames("maps", "hotspots"), reverse_sql=_renames("hotspots", "maps")),
            ],
            state_operations=[
                migrations.CreateModel(
                    name='HotspotRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('clusters', 'DBSCAN clusters'), ('hexagons', 'H3 hexagons with Getis-Ord Gi*')], max_length=10)),
                        ('date_from', models.DateTimeField()),
                        ('date_to', models.DateTimeField()),
                        ('params', models.JSONField(default=dict)),
                        ('signature', models.CharField(max_length=64)),
                        ('fingerprint', models.CharField(max_length=100)),
                        ('trigger', models.CharField(default='api', max_length=20)),
                        ('reports', models.PositiveIntegerField(default=0)),
                        ('results', models.PositiveIntegerField(default=0)),
                        ('started_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('duration_ms', models.PositiveIntegerField(default=0)),
                        ('branch', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='layers.branchmunicipality')),
                        ('category', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='reports.category')),
                    ],
                    options={
                        'permissions': [('use_planner', 'Can use the planner dashboard, the hotspot and KPI API and exports')],
                        'indexes': [models.Index(fields=['signature', '-started_at'], name='maps_run_signature')],
                    },
                ),
                migrations.CreateModel(
                    name='HotspotHexagon',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('h3_index', models.CharField(max_length=16)),
                        ('resolution', models.PositiveSmallIntegerField()),
                        ('report_count', models.PositiveIntegerField()),
                        ('z_score', models.FloatField()),
                        ('p_value', models.FloatField()),
                        ('bin', models.SmallIntegerField()),
                        ('trend', models.CharField(blank=True, choices=[('new', 'new'), ('intensifying', 'intensifying'), ('persistent', 'persistent'), ('diminishing', 'diminishing'), ('sporadic', 'sporadic')], max_length=12)),
                        ('trend_tau', models.FloatField(blank=True, null=True)),
                        ('trend_p', models.FloatField(blank=True, null=True)),
                        ('weekly_counts', models.JSONField(blank=True, null=True)),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='hexagons', to='hotspots.hotspotrun')),
                    ],
                    options={
                        'indexes': [models.Index(fields=['run', 'bin'], name='maps_hexagon_run_bin')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('bin__gte', -3), ('bin__lte', 3)), name='maps_hexagon_bin')],
                    },
                ),
                migrations.CreateModel(
                    name='HotspotCluster',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('hull', django.contrib.gis.db.models.fields.PolygonField(srid=4326)),
                        ('centroid', django.contrib.gis.db.models.fields.PointField(srid=4326)),
                        ('area_m2', models.FloatField()),
                        ('report_count', models.PositiveIntegerField()),
                        ('open_count', models.PositiveIntegerField(default=0)),
                        ('first_report_at', models.DateTimeField()),
                        ('last_report_at', models.DateTimeField()),
                        ('score', models.FloatField()),
                        ('eps_m', models.FloatField()),
                        ('min_points', models.PositiveIntegerField()),
                        ('trend', models.CharField(blank=True, choices=[('new', 'new'), ('intensifying', 'intensifying'), ('persistent', 'persistent'), ('diminishing', 'diminishing'), ('sporadic', 'sporadic')], max_length=12)),
                        ('trend_tau', models.FloatField(blank=True, null=True)),
                        ('trend_p', models.FloatField(blank=True, null=True)),
                        ('weekly_counts', models.JSONField(default=list)),
                        ('branch', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='layers.branchmunicipality')),
                        ('category', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='reports.category')),
                        ('dominant_subcategory', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='reports.category')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='clusters', to='hotspots.hotspotrun')),
                    ],
                    options={
                        'ordering': ['-score', 'id'],
                        'indexes': [django.contrib.postgres.indexes.GistIndex(fields=['hull'], name='maps_cluster_hull_gist')],
                    },
                ),
            ],
        ),
    ]
