"""`manage.py create_supervisor USERNAME [--department CODE] [--branch CODE ...]`."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from fieldteams.models import Department, Supervisor
from layers.models import BranchMunicipality


class Command(BaseCommand):
    help = (
        "Create (or update) a supervisor over a department and/or branch municipalities, with a "
        "new random password and an API token, both printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--department", help="department code")
        parser.add_argument("--branch", action="append", default=[], help="branch code; repeat")

    def handle(self, *args, username: str, department, branch: list[str], **options):
        if not department and not branch:
            raise CommandError("give --department, --branch or both")
        dept = None
        if department:
            dept = Department.objects.filter(code=department).first()
            if dept is None:
                raise CommandError(f"no department {department!r}")
        branches = list(BranchMunicipality.objects.filter(code__in=branch))
        missing = set(branch) - {b.code for b in branches}
        if missing:
            raise CommandError(f"no branch municipality {', '.join(sorted(missing))}")
        user, _created = get_user_model().objects.get_or_create(username=username)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        supervisor, _created = Supervisor.objects.update_or_create(
            user=user, defaults={"department": dept}
        )
        supervisor.branches.set(branches)
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        self.stdout.write(f"{username}: supervisor\npassword: {password}\ntoken: {token.key}")
