"""Create the demo team, user and project (idempotent) and print the login (shared/DESIGN.md)."""

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
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "wanweb-demo"))

    @transaction.atomic
    def handle(self, *args, password: str, **options):
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME)
        # The demo user runs the local studio, Django admin included.
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
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
        self.stdout.write(f"password: {password}")
        self.stdout.write(f"project: {project.name}")
