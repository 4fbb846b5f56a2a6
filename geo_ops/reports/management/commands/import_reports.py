"""Import reports from a CSV or GeoJSON file; a dry run unless --commit."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from geo_ops.reports.bulk import COLUMNS, ReportImportError, reports_import


class Command(BaseCommand):
    help = (
        "Bulk-import citizen reports from CSV or GeoJSON (Point features). Columns / properties: "
        f"{', '.join(COLUMNS)}. Rows are validated and joined to their branch municipality in "
        "the database; rejected rows go to --rejects with a reason; rows whose external_id is "
        "already stored are skipped. Nothing is saved without --commit."
    )
    # No system checks first, as Django's loaddata: they load every URLconf and view module
    # (half a second or more) for a command that needs the models and the database only.
    # `manage.py check` (make test, a deployment) is where the configuration is checked.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a .csv or .geojson file")
        parser.add_argument("--commit", action="store_true", help="save (default: dry run)")
        parser.add_argument(
            "--rejects", type=Path, metavar="PATH", help="write the rejected rows here (CSV)"
        )
        parser.add_argument(
            "--actor", default="import_reports", help="who runs the import (audit record)"
        )

    def handle(self, *args, **options):
        path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file")
        try:
            summary = reports_import(
                path=path,
                commit=options["commit"],
                rejects_path=options["rejects"],
                actor_label=options["actor"],
            )
        except ReportImportError as exc:
            raise CommandError(str(exc)) from exc
        for line in summary.lines():
            self.stdout.write(line)
