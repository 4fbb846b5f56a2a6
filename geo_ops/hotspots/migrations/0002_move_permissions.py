"""The moved hotspot models' content types follow them from maps to hotspots, so the permissions
granted on them (the `planner` group's `use_planner`, from maps 0003, and any given to users or
other groups) become the equivalent `hotspots.*` permissions."""

from django.db import migrations

from geo_ops.db.content_types import content_types_move

MODELS = ("hotspotrun", "hotspotcluster", "hotspothexagon")


def forwards(apps, schema_editor):
    content_types_move(apps=apps, models=MODELS, from_label="maps", to_label="hotspots")


def backwards(apps, schema_editor):
    content_types_move(apps=apps, models=MODELS, from_label="hotspots", to_label="maps")


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("hotspots", "0001_initial"),
        ("maps", "0003_planner_group"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
