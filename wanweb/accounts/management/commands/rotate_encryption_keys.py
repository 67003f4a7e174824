"""Re-encrypt every stored secret with the newest FIELD_ENCRYPTION_KEYS key (README: rotation)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from wanweb.accounts import crypto, vendor_keys


class Command(BaseCommand):
    help = "Re-encrypt teams' vendor keys with the newest FIELD_ENCRYPTION_KEYS key. Safe to run twice."

    def handle(self, *args, **options):
        keys = crypto.configured_keys()
        if not keys:
            raise CommandError("FIELD_ENCRYPTION_KEYS is not set.")
        problems = crypto.key_problems(keys)
        if problems:
            raise CommandError("; ".join(problems))
        result = vendor_keys.rotate_all()
        self.stdout.write(
            f"{result.rotated} re-encrypted with the newest key, {result.unchanged} already were."
        )
        if result.unreadable:
            raise CommandError(
                f"{len(result.unreadable)} stored key(s) cannot be decrypted with any configured key "
                f"(credentials {', '.join(result.unreadable)}): keep the key they were encrypted with "
                "in FIELD_ENCRYPTION_KEYS, or have the team enter them again."
            )
