"""``manage.py tasks_worker``: django-tasks-db's worker (``db_worker``) with retries and crash recovery.

The worker node's supervised program (deploy/roles/worker.py). See tiers_site.worker and docs/MEDIA.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from tiers_site.worker import fail_or_retry, requeue_orphans, worker_prefix


class RetryingWorker(Worker):
    def run_task(self, db_task_result: Any) -> None:
        # The library records any exception with set_failed(); ours reschedules instead while attempts last.
        db_task_result.set_failed = lambda exc: fail_or_retry(db_task_result, exc)
        super().run_task(db_task_result)


class Command(BaseCommand):
    help = "Run background tasks (django-tasks-db) with retries; re-queue tasks a dead worker left RUNNING"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
        parser.add_argument(
            "--lease", type=float, default=900.0, help="a task RUNNING longer than this is re-queued at start"
        )
        parser.add_argument("--queue-name", default="default")

    def handle(self, *args: Any, interval: float, lease: float, queue_name: str, **options: Any) -> None:
        node = settings.TIERS_NODE_NAME
        requeued = requeue_orphans(node, lease)
        worker_id = worker_prefix(node) + get_random_string(12)
        self.stdout.write(f"tasks_worker {worker_id}: {requeued} orphaned task(s) re-queued")
        worker = RetryingWorker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        worker.configure_signals()
        worker.run()
