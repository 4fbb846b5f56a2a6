"""manage.py create_api_key NAME: a new key for Open311 POSTs, printed once."""

from django.core.management.base import BaseCommand, CommandError

from geo_ops.reports.open311.services import ApiKeyError, api_key_create


class Command(BaseCommand):
    help = (
        "Create an Open311 API key named NAME and print it once; only its SHA-256 is stored. "
        "The key alone goes to stdout, so KEY=$(manage.py create_api_key NAME) works."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who the key is for, e.g. balaghati-app")

    def handle(self, *args, name: str, **options):
        try:
            api_key, raw_key = api_key_create(name=name)
        except ApiKeyError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(
            f"Created API key {api_key.name!r}. Store it now: it cannot be shown again.",
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(raw_key)
