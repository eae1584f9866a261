"""Create one published event and print it as JSON (for tests and demos).

manage.py create_event TITLE --capacity N [--max-per-buyer M] [--price P] [--venue V] [--days D]
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from boxoffice.models import DEFAULT_MAX_TICKETS_PER_BUYER, Event


class Command(BaseCommand):
    help = "Create a published event and print {id, title, capacity} as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("title")
        parser.add_argument("--capacity", type=int, required=True)
        parser.add_argument(
            "--max-per-buyer",
            type=int,
            default=DEFAULT_MAX_TICKETS_PER_BUYER,
            help="tickets one buyer may hold for the event (load tests: as many as the capacity)",
        )
        parser.add_argument("--price", default="10.00")
        parser.add_argument("--venue", default="Test Hall")
        parser.add_argument("--days", type=int, default=10, help="starts this many days from now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["capacity"] < 0:
            raise CommandError("--capacity must be >= 0")
        if options["max_per_buyer"] < 1:
            raise CommandError("--max-per-buyer must be >= 1")
        try:
            price = Decimal(options["price"])
        except InvalidOperation:
            raise CommandError(f"--price {options['price']!r} is not a number") from None
        event = Event.objects.using("default").create(
            title=options["title"],
            venue=options["venue"],
            starts_at=timezone.now() + timedelta(days=options["days"]),
            capacity=options["capacity"],
            max_tickets_per_buyer=options["max_per_buyer"],
            price=price,
        )
        self.stdout.write(json.dumps({"id": event.pk, "title": event.title, "capacity": event.capacity}))
