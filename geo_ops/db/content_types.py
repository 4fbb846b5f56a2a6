"""Moving models between apps in a migration: their content types, and so the permissions granted
on them, follow the models."""


def content_types_move(*, apps, models: tuple[str, ...], from_label: str, to_label: str) -> None:
    """Relabel the content types of `models` (lower-case model names) from one app to another.

    Renaming the content type keeps every permission, admin log entry and generic relation that
    points at it. When the target content type exists already (post_migrate created it before
    this ran), each permission is recreated there and granted to the same groups and users.
    For RunPython: `apps` is the migration's historical registry.
    """
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
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
            _grants_copy(permission_model, permission, target)


def _grants_copy(permission_model, permission, target) -> None:
    """Grant `target` to every holder of `permission`: groups, users (whatever the user model)."""
    for relation in permission_model._meta.related_objects:
        if not relation.many_to_many:
            continue
        through = relation.through
        holder = relation.field.m2m_field_name()  # "group", "user"
        held = relation.field.m2m_reverse_field_name()  # "permission"
        for grant in through.objects.filter(**{held: permission}):
            through.objects.get_or_create(
                **{f"{holder}_id": getattr(grant, f"{holder}_id"), held: target}
            )
