"""Writes of the Open311 layer: API keys."""

import secrets

from django.db import IntegrityError, transaction

from ..models import ApiKey
from .selectors import api_key_hash


class ApiKeyError(ValueError):
    """The API key cannot be created as asked (bad or taken name)."""


@transaction.atomic
def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Create an API key; returns it and the raw key, which is stored only as its hash."""
    name = name.strip()
    max_length = ApiKey._meta.get_field("name").max_length
    if not name or len(name) > max_length:
        raise ApiKeyError(f"The name must be 1 to {max_length} characters.")
    if ApiKey.objects.filter(name=name).exists():
        raise ApiKeyError(f"An API key named {name!r} already exists.")
    raw_key = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            api_key = ApiKey.objects.create(name=name, key_hash=api_key_hash(raw_key=raw_key))
    except IntegrityError:
        # Lost a race with another command creating the same name.
        raise ApiKeyError(f"An API key named {name!r} already exists.") from None
    return api_key, raw_key
