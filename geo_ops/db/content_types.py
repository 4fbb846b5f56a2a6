"""Moving models between apps in a migration: their content types, and so the permissions granted
on them, follow the models."""

from django.conf import settings


def content_types_move(*, apps, models: tuple[str, ...], from_label: str, to_label: str) -> None:
    """Relabel the content types of `models` (lower-case model names) from one app to another.

    Renaming the content type keeps every permission, admin log entry and generic relation that
    points at it. When the target content type exists already (post_migrate created it before
    this ran), each permission is recreated there and granted to the same groups and users.
    For RunPython: `apps` is the migration's historical registry.
    """
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_grants = apps.get_model("auth", "Group").permissions.through
    user_grants = apps.get_model(settings.AUTH_USER_MODEL).user_permissions.through
    for model in models:
        old = content_type_model.objects.filter(app_label=from_label, model=model).first()
        if old is None:
            continue  # a fresh database: post_migrate creates the content type in its new app
        new = content_type_model.objects.filter(app_label=to_label, model=model).first()
        if new is None:
            old.app_label = to_label
            old.save(update_fields=["app_label"])
            continue
        for permission in permission_model.objects.filter(content_type=old):
            target, _created = permission_model.objects.get_or_create(
                content_type=new, codename=permission.codename, defaults={"name": permission.name}
            )
            for grant in group_grants.objects.filter(permission=permission):
                group_grants.objects.get_or_create(group_id=grant.group_id, permission=target)
            for grant in user_grants.objects.filter(permission=permission):
                user_grants.objects.get_or_create(user_id=grant.user_id, permission=target)
