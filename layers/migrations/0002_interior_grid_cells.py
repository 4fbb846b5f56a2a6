import django.db.models.deletion
from django.db import migrations, models


def build_cells(apps, schema_editor):
    """Cells for the boundaries already loaded (an empty grid is correct too, only slower: every
    point then takes the exact join)."""
    from layers.services import boundary_cells_refresh

    for layer in ("branch", "district"):
        boundary_cells_refresh(layer=layer)


class Migration(migrations.Migration):

    dependencies = [
        ('layers', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='BranchMunicipalityCell',
            fields=[
                ('cell', models.BigIntegerField(primary_key=True, serialize=False)),
                ('branch', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='cells', to='layers.branchmunicipality')),
            ],
        ),
        migrations.CreateModel(
            name='DistrictCell',
            fields=[
                ('cell', models.BigIntegerField(primary_key=True, serialize=False)),
                ('district', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='cells', to='layers.district')),
            ],
        ),
        migrations.RunPython(build_cells, migrations.RunPython.noop),
    ]
