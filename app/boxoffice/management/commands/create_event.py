"""Create one published event and print it as JSON (for tests and demos).

manage.py create_event TITLE --capacity N [--price P] [--venue V] [--days D]
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from boxoffice.models import Event


class Command(BaseCommand):
    help = "Create a published event and print {id, title, capacity} as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("title")
        parser.add_argument("--capacity", type=int, required=True)
        parser.add_argument("--price", default="10.00")
        parser.add_argument("--venue", default="Test Hall")
        parser.add_argument("--days", type=int, default=10, help="starts this many days from now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["capacity"] < 0:
            raise CommandError("--capacity must be >= 0")
        try:
            price = Decimal(options["price"])
        except InvalidOperation:
            raise CommandError(f"--price {options['price']!r} is not a number") from None
        event = Event.objects.using("default").create(
            title=options["title"],
            venue=options["venue"],
            starts_at=timezone.now() + timedelta(days=options["days"]),
            capacity=options["capacity"],
            price=price,
        )
        self.stdout.write(json.dumps({"id": event.pk, "title": event.title, "capacity": event.capacity}))
