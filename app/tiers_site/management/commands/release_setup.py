"""`manage.py release_setup --release REF`: migrate and collectstatic once per release for the whole cluster.

Every web host runs it after installing a release (terraform user data, tiers-sync); the first to take a
PostgreSQL advisory lock on the primary does the work and records the release, the others wait for the
lock and then find it recorded. A failed run records nothing, so the next host retries.

The lock is transaction-scoped, on a connection of its own held open in a transaction while migrate runs
on the usual one: through PgBouncer's transaction pooling a session-level lock would be taken on one server
connection and released (or not) on another, but an open transaction keeps its server connection. The
release is recorded in that same transaction, so recording it and releasing the lock are one commit.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections

# pg_advisory_xact_lock's key: any constant the application uses for nothing else ("tiers-rs" in ASCII).
LOCK_KEY = 0x74696572732D7273
TABLE = "tiers_release_setup"


class Command(BaseCommand):
    help = "Run migrations and collectstatic once per release, whichever host comes first (advisory lock)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--release", required=True, help="the release's identity, e.g. its git commit")

    def handle(self, *args, release: str, **options) -> None:
        lock = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            lock.set_autocommit(False)
            with lock.cursor() as cursor:
                # Waits while another host sets up; held until this transaction ends.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
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
            lock.commit()
            self.stdout.write(f"release {release}: migrated and static files collected")
        finally:
            # A failure (or the early return) rolls back: nothing recorded, the lock released.
            lock.rollback()
            lock.close()
