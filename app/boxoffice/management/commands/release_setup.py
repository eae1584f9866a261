"""`manage.py release_setup --release REF`: migrate and collectstatic once per release for the whole cluster.

Every web host runs it after installing a release (terraform user data, tiers-sync); the first to take a
session-level PostgreSQL advisory lock on the primary does the work and records the release, the others
wait for the lock and then find it recorded. A failed run records nothing, so the next host retries.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections

# pg_advisory_lock's key: any constant the application uses for nothing else ("tiers-rs" in ASCII).
LOCK_KEY = 0x74696572732D7273
TABLE = "tiers_release_setup"


class Command(BaseCommand):
    help = "Run migrations and collectstatic once per release, whichever host comes first (advisory lock)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--release", required=True, help="the release's identity, e.g. its git commit")

    def handle(self, *args, release: str, **options) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            # Session level: held across migrate's own transactions, released below or when we exit.
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            try:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (release text PRIMARY KEY, "
                    "done_at timestamptz NOT NULL DEFAULT now())"
                )
                cursor.execute(f"SELECT done_at FROM {TABLE} WHERE release = %s", [release])
                done = cursor.fetchone()
                if done:
                    self.stdout.write(f"release {release}: set up already ({done[0]:%Y-%m-%d %H:%M:%S} UTC)")
                    return
                call_command("migrate", interactive=False, verbosity=1, stdout=self.stdout)
                call_command("collectstatic", interactive=False, verbosity=0)
                cursor.execute(f"INSERT INTO {TABLE} (release) VALUES (%s)", [release])
                self.stdout.write(f"release {release}: migrated and static files collected")
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
