"""Import boundaries from any GDAL-readable file; a dry run unless --commit."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from layers.services import BoundaryImportError, boundaries_import


class Command(BaseCommand):
    help = (
        "Upsert branch municipalities or districts by code from GeoJSON, GeoPackage, a zipped "
        "Shapefile or any format GDAL reads. Reprojects to WGS84, repairs invalid polygons, "
        "re-joins reports whose boundary changed. Nothing is saved without --commit."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--code-field", required=True)
        parser.add_argument("--name-field", required=True)
        parser.add_argument("--name-ar-field")
        parser.add_argument("--population-field")
        parser.add_argument(
            "--srid", type=int, help="CRS of the source when it has none or a wrong one"
        )
        parser.add_argument("--layer", choices=["branch", "district"], default="branch")
        parser.add_argument("--commit", action="store_true", help="save (default: dry run)")

    def handle(self, *args, **options):
        if not options["path"].exists():
            raise CommandError(f"{options['path']} does not exist")
        try:
            summary = boundaries_import(
                path=options["path"],
                code_field=options["code_field"],
                name_field=options["name_field"],
                name_ar_field=options["name_ar_field"],
                population_field=options["population_field"],
                srid=options["srid"],
                layer=options["layer"],
                commit=options["commit"],
            )
        except BoundaryImportError as exc:
            raise CommandError(str(exc)) from exc
        for line in summary.lines():
            self.stdout.write(line)
