"""Local profile only: COUNT buyers with logged-in sessions, for load tests and `make bench`.

manage.py seed_buyers COUNT --prefix P  ->  {"buyers": [[user_id, username, session_key], ...]}

Logging 1,000 buyers in through POST /api/login would take minutes of password hashing on a small box
(PBKDF2, ~6 logins/s on 2 cores); a load test of the onsale wants the buying, not the hashing. The users
get unusable passwords and their sessions are made here, as a login would make them (the session store is
the cluster's own: memcached and the database), so every node accepts them.
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError

MAX_BUYERS = 5000


class Command(BaseCommand):
    help = "Local profile only: create COUNT buyers with sessions and print their session keys as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("count", type=int)
        parser.add_argument("--prefix", required=True, help="usernames are <prefix><n>; must be unused")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.TIERS_PROFILE != "local":
            raise CommandError("seed_buyers makes logged-in sessions: only in the local profile")
        count, prefix = options["count"], options["prefix"]
        if not 1 <= count <= MAX_BUYERS:
            raise CommandError(f"COUNT must be between 1 and {MAX_BUYERS}")
        users = get_user_model().objects.db_manager("default")
        if users.filter(username__startswith=prefix).exists():
            raise CommandError(f"--prefix {prefix!r} is already used: pick another")
        unusable = make_password(None)
        made = users.bulk_create(
            [users.model(username=f"{prefix}{i}", password=unusable) for i in range(count)]
        )
        # The site's own session engine and first authentication backend: a session a login would make.
        store = import_module(settings.SESSION_ENGINE).SessionStore
        backend = settings.AUTHENTICATION_BACKENDS[0]
        buyers = []
        for user in made:
            session = store()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = backend
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            buyers.append([user.pk, user.username, session.session_key])
        self.stdout.write(json.dumps({"buyers": buyers}))
