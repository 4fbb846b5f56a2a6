"""`manage.py escalate_overdue`: flag overdue jobs for supervisors and raise their priority."""

from django.core.management.base import BaseCommand

from fieldteams.services import escalate_overdue


class Command(BaseCommand):
    help = (
        "Flag every open report past its SLA due time for its supervisor, raise its priority "
        "one level and audit it (once per report; the Celery beat runs it periodically)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"escalated {escalate_overdue()} overdue report(s)")
