"""`manage.py load_crews PATH [--commit]`: upsert crews from a JSON file (dry run by default)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fieldteams.services import crews_load


class Command(BaseCommand):
    help = (
        "Upsert field crews (skills, branches, depot, capacity, weekly shifts) by code from a "
        "JSON file like fieldteams/fixtures/demo_crews.json. Dry run unless --commit."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--commit", action="store_true", help="write (default: dry run)")

    def handle(self, *args, path: Path, commit: bool, **options):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        items = data.get("crews") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise CommandError(f'{path}: expected {{"crews": [...]}} or a list of crews')
        summary = crews_load(items=items, commit=commit)
        if summary.errors:
            for error in summary.errors:
                self.stderr.write(f"  {error}")
            raise CommandError(f"{len(summary.errors)} error(s); nothing was written")
        verb = "" if commit else "would be "
        self.stdout.write(
            f"crews {verb}created: {len(summary.created)}, {verb}updated: {len(summary.updated)}"
            + ("" if commit else " (dry run: add --commit to write)")
        )
