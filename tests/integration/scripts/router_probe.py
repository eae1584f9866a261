"""Run inside Django (``manage.py shell``) on a web node's environment: exercise the router against the
real primary and replicas and print one JSON object describing which server answered each step.

Each step reports the alias the ORM used (from the queries captured per connection) and, for raw
queries, the address of the PostgreSQL server that really answered (``inet_server_addr()``) and
whether it was in recovery. The integration test asserts on that output.
"""

import json
import uuid

from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from boxoffice.models import Event
from dbrouter.context import routing_context

ALIASES = list(connections)


def served(fn):
    """Run fn capturing queries on every alias; return the aliases that executed a query."""
    captures = {alias: CaptureQueriesContext(connections[alias]) for alias in ALIASES}
    for c in captures.values():
        c.__enter__()
    try:
        result = fn()
    finally:
        for c in captures.values():
            c.__exit__(None, None, None)
    return sorted(a for a, c in captures.items() if len(c.captured_queries)), result


def server():
    row = next(
        iter(
            Event.objects.raw(
                "SELECT id, host(inet_server_addr()) AS addr, pg_is_in_recovery() AS standby FROM boxoffice_event LIMIT 1"
            )
        )
    )
    return {"addr": row.addr, "standby": row.standby}


out = {}
with routing_context():
    out["plain_read"] = served(server)
    out["same_replica"] = [served(server)[1]["addr"] for _ in range(5)]
with routing_context(), transaction.atomic():
    out["in_atomic"] = served(server)
with routing_context():

    def lock():
        with transaction.atomic():
            return len(list(Event.objects.select_for_update().filter(pk__gt=0)[:1]))

    out["select_for_update"] = served(lock)
with routing_context():
    title = f"router-probe-{uuid.uuid4().hex[:8]}"
    out["get_or_create"] = served(
        lambda: Event.objects.get_or_create(
            title=title,
            defaults={
                "venue": "Probe",
                "capacity": 1,
                "price": "1.00",
                "starts_at": "2030-01-01T00:00:00Z",
                "published": False,
            },
        )[1]
    )
with routing_context() as ctx:
    out["before_write"] = served(server)
    served(lambda: Event.objects.filter(title__startswith="router-probe-").update(venue="Probed"))
    out["after_write"] = served(server)
    out["wrote"] = ctx.wrote
print(json.dumps(out))
