"""Demo data for a local cluster: events, buyers demo/demo and demo2/demo2, organizer/organizer.

Idempotent (run it on every `make up`); refuses to run under the production profile.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from boxoffice.models import Event

BUYERS = (("demo", "demo"), ("demo2", "demo2"))
ORGANIZER = ("organizer", "organizer")
ORGANIZER_GROUP = "organizers"
ORGANIZER_PERMS = (
    "add_event", "change_event", "view_event", "view_order",
    # Onsales: set one up, tune or stop it, watch its line (docs/ONSALE.md).
    "add_onsale", "change_onsale", "view_onsale",
)  # fmt: skip
# (title, venue, days from the first seeding, capacity, price)
EVENTS = (
    ("The Replicas live", "Loopback Hall", 14, 500, "45.00"),
    ("Failover Jazz Night", "Primary Club", 21, 120, "25.00"),
    ("WAL Poetry Slam", "Archive Room", 30, 60, "8.50"),
    ("Cache Miss Comedy", "Memory Lane Theatre", 45, 200, "18.00"),
    ("Tiny Onsale Rush", "Small Room", 7, 10, "5.00"),
)


class Command(BaseCommand):
    help = "Create demo events and users (local profile only). Safe to run repeatedly."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print users and events as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.TIERS_PROFILE != "local":
            raise CommandError(f"seed_demo refuses to run under the {settings.TIERS_PROFILE!r} profile")
        with transaction.atomic(using="default"):
            for username, password in BUYERS:
                self.ensure_user(username, password)
            organizer = self.ensure_user(*ORGANIZER, staff=True)
            group, _ = Group.objects.using("default").get_or_create(name=ORGANIZER_GROUP)
            perms = Permission.objects.using("default").filter(
                content_type__app_label="boxoffice", codename__in=ORGANIZER_PERMS
            )
            group.permissions.set(perms)
            organizer.groups.add(group)
            base = timezone.now().replace(hour=20, minute=0, second=0, microsecond=0)
            events = []
            for title, venue, days, capacity, price in EVENTS:
                event, _ = Event.objects.using("default").get_or_create(
                    title=title,
                    defaults={
                        "venue": venue,
                        "starts_at": base + timedelta(days=days),
                        "capacity": capacity,
                        "price": Decimal(price),
                    },
                )
                events.append(event)
        summary = {
            "buyers": [{"username": u, "password": p} for u, p in BUYERS],
            "organizer": {"username": ORGANIZER[0], "password": ORGANIZER[1], "admin": "/admin/"},
            "events": [{"id": e.pk, "title": e.title, "tickets_left": e.tickets_left} for e in events],
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        names = ", ".join(f"{u}/{p}" for u, p in BUYERS)
        self.stdout.write(f"demo buyers: {names}; organizer (admin): {ORGANIZER[0]}/{ORGANIZER[1]}")
        self.stdout.write(f"{len(events)} demo events: " + ", ".join(f"#{e.pk} {e.title}" for e in events))

    def ensure_user(self, username: str, password: str, staff: bool = False) -> Any:
        user_model = get_user_model()
        user, created = user_model.objects.using("default").get_or_create(username=username)
        changed = created
        if not user.check_password(password):
            user.set_password(password)
            changed = True
        if staff and not user.is_staff:
            user.is_staff = True
            changed = True
        if not user.email:  # order confirmations are mailed (console backend: the worker's log)
            user.email = f"{username}@example.invalid"
            changed = True
        if changed:
            user.save(using="default")
        return user
