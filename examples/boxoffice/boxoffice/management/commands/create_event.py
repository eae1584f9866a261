"""Create one published event and print it as JSON (for tests and demos).

manage.py create_event TITLE --capacity N [--max-per-buyer M] [--price P] [--venue V] [--days D]
    [--onsale --checkout-capacity C [--admission-rate R] [--admission-ttl S] [--opens-in S]]
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from boxoffice.models import DEFAULT_MAX_TICKETS_PER_BUYER, Event, Onsale


class Command(BaseCommand):
    help = "Create a published event (optionally with its onsale on) and print it as JSON."

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
        parser.add_argument("--onsale", action="store_true", help="sell through the waiting room")
        parser.add_argument("--checkout-capacity", type=int, help="buyers admitted to checkout at once")
        parser.add_argument("--admission-rate", type=int, default=20, help="admissions per second, at most")
        parser.add_argument("--admission-ttl", type=int, default=300, help="seconds an admission lasts")
        parser.add_argument("--opens-in", type=float, default=0.0, help="the sale opens this many s from now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["capacity"] < 0:
            raise CommandError("--capacity must be >= 0")
        if options["max_per_buyer"] < 1:
            raise CommandError("--max-per-buyer must be >= 1")
        try:
            price = Decimal(options["price"])
        except InvalidOperation:
            raise CommandError(f"--price {options['price']!r} is not a number") from None
        onsale = options["onsale"]
        if onsale and (options["checkout_capacity"] or 0) < 1:
            raise CommandError("--onsale needs --checkout-capacity C (C >= 1 buyers in checkout at once)")
        if not onsale and options["checkout_capacity"] is not None:
            raise CommandError("--checkout-capacity only applies with --onsale")
        for flag in ("admission_rate", "admission_ttl"):
            if options[flag] < 1:
                raise CommandError(f"--{flag.replace('_', '-')} must be >= 1")
        if options["opens_in"] < 0:
            raise CommandError("--opens-in must be >= 0 seconds")
        now = timezone.now()
        with transaction.atomic(using="default"):
            event = Event.objects.using("default").create(
                title=options["title"],
                venue=options["venue"],
                starts_at=now + timedelta(days=options["days"]),
                capacity=options["capacity"],
                max_tickets_per_buyer=options["max_per_buyer"],
                price=price,
            )
            if onsale:
                Onsale.objects.using("default").create(
                    event=event,
                    opens_at=now + timedelta(seconds=options["opens_in"]),
                    checkout_capacity=options["checkout_capacity"],
                    admission_rate=options["admission_rate"],
                    admission_ttl_s=options["admission_ttl"],
                )
        out = {"id": event.pk, "title": event.title, "capacity": event.capacity, "onsale": onsale}
        self.stdout.write(json.dumps(out))
