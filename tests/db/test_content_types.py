"""content_types_move: a moved model's content type, and the permissions granted on it, follow it
to its new app (renamed, or copied onto a content type the new app has already)."""

from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType

from geo_ops.db.content_types import content_types_move


def test_the_content_type_is_relabelled_and_keeps_its_permissions(db):
    moved = ContentType.objects.create(app_label="old_app", model="thing")
    permission = Permission.objects.create(content_type=moved, codename="use_thing", name="x")
    content_types_move(apps=apps, models=("thing", "absent"), from_label="old_app", to_label="new")
    moved.refresh_from_db()
    assert moved.app_label == "new"
    assert Permission.objects.get(pk=permission.pk).content_type_id == moved.pk


def test_grants_are_copied_when_the_new_app_has_the_content_type_already(db):
    old = ContentType.objects.create(app_label="old_app", model="thing")
    new = ContentType.objects.create(app_label="new_app", model="thing")
    permission = Permission.objects.create(content_type=old, codename="use_thing", name="x")
    group = Group.objects.create(name="thing users")
    group.permissions.add(permission)
    user = User.objects.create_user("holder")
    user.user_permissions.add(permission)

    content_types_move(apps=apps, models=("thing",), from_label="old_app", to_label="new_app")

    target = Permission.objects.get(content_type=new, codename="use_thing")
    assert set(group.permissions.all()) == {permission, target}
    assert User.objects.get(pk=user.pk).has_perm("new_app.use_thing")
