"""Create the demo team, user and project (idempotent) and print the login (shared/DESIGN.md).

`make run` runs it at every start; `make serve` never does. An existing `demo` user keeps the
password and the flags an operator gave it: only `--reset-password` sets the password again.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from generations.models import Project
from wanweb.accounts.models import Membership, Role, Team

DEMO_USERNAME = "demo"
DEMO_TEAM = "Demo Studio"
DEMO_PROJECT = "First steps"


class Command(BaseCommand):
    help = "Create the demo team, user and project if missing, and print the login."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD", "wanweb-demo"),
            help="the new user's password (an existing user's only with --reset-password)",
        )
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="set the password of an existing demo user too (otherwise it is never changed)",
        )

    @transaction.atomic
    def handle(self, *args, password: str, reset_password: bool, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            # The demo user runs the local studio, Django admin included.
            user = user_model(username=DEMO_USERNAME, is_staff=True, is_superuser=True)
            user.set_password(password)
            user.save()
            shown = password
        elif reset_password:
            user.set_password(password)
            user.save(update_fields=["password"])
            shown = password
        elif user.check_password(password):
            shown = password  # still the demo password: say so
        else:
            shown = "(changed by an operator, left as is: `manage.py demo --reset-password` sets it back)"
        team, _ = Team.objects.get_or_create(slug="demo-studio", defaults={"name": DEMO_TEAM})
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": Role.OWNER})
        project, _ = Project.objects.get_or_create(
            team=team,
            slug="first-steps",
            defaults={
                "name": DEMO_PROJECT,
                "description": "A place to try every mode on the offline simulator.",
                "created_by": user,
            },
        )
        self.stdout.write(f"username: {user.username}")
        self.stdout.write(f"password: {shown}")
        self.stdout.write(f"project: {project.name}")
