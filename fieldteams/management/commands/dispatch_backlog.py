"""`manage.py dispatch_backlog`: dispatch every report still waiting for a crew."""

from django.core.management.base import BaseCommand

from fieldteams.services import dispatch_backlog


class Command(BaseCommand):
    help = (
        "Dispatch the reports still waiting for a crew (bulk imports, reports no crew could "
        "take, declined jobs), most urgent first, in set-based batches."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--limit", type=int, default=None, help="at most this many reports")
        parser.add_argument("--branch", action="append", default=[], help="branch code; repeat")

    def handle(self, *args, batch_size: int, limit, branch: list[str], **options):
        summary = dispatch_backlog(batch_size=batch_size, limit=limit, branch_codes=branch)
        self.stdout.write(
            f"considered {summary.considered}, assigned {summary.assigned}, "
            f"left unassigned {summary.unassigned}"
        )
        for reason, n in sorted(summary.reasons.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  {n:>6}  {reason}")
