"""The `planner` group with the permission to use the planner dashboard and the hotspot API."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "planner"
PERMISSION = "use_planner"


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now so
    # the group can hold this one on a fresh database.
    app_config = apps.get_app_config("maps")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(
        Permission.objects.get(content_type__app_label="maps", codename=PERMISSION)
    )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("maps", "0002_hotspots"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
