"""`manage.py create_crew_member USERNAME --crew CODE`: a crew member's login and API token."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from fieldteams.models import Crew, CrewMember


class Command(BaseCommand):
    help = (
        "Create (or move) a crew member: a user in the crew, with a new random password and an "
        "API token for the crew app, both printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--crew", required=True, help="crew code")

    def handle(self, *args, username: str, crew: str, **options):
        team = Crew.objects.filter(code=crew).first()
        if team is None:
            raise CommandError(f"no crew {crew!r}")
        user, _created = get_user_model().objects.get_or_create(username=username)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        CrewMember.objects.update_or_create(user=user, defaults={"crew": team})
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        self.stdout.write(f"{username} in {team.code}\npassword: {password}\ntoken: {token.key}")
