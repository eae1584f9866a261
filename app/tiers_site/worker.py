"""Retries and crash recovery around django-tasks-db's worker (run by ``manage.py tasks_worker``).

django-tasks-db runs a task once: an exception marks its row FAILED, and a worker killed mid-task leaves
its row RUNNING for ever. This module adds, without forking the library:

- **retries**: a failed attempt puts the same row back to READY with ``run_after`` = now + backoff, keeping
  the error in the row's ``traceback``; after ``max_attempts`` (or a :class:`PermanentTaskError`) the row
  is FAILED with the last error. Attempts are counted by the row's ``worker_ids`` (one id per claim).
- **recovery**: at start, a worker puts back to READY the RUNNING rows claimed by an earlier worker of the
  same node (that one is dead: a node runs one worker process) and any RUNNING row older than the lease
  (a node that never came back). Tasks must therefore be idempotent: they run at least once.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from traceback import format_exception
from typing import Any

log = logging.getLogger("tiers.worker")


class PermanentTaskError(Exception):
    """A failure no retry can fix (the input is gone or invalid): recorded as FAILED at once."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds before the next attempt, after attempt number ``attempt`` (1-based) failed."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


DEFAULT_POLICY = RetryPolicy()


def retry_delay(policy: RetryPolicy, attempts: int, exc: BaseException) -> float | None:
    """Seconds until the next attempt, or None to record the task as failed."""
    if isinstance(exc, PermanentTaskError) or attempts >= policy.max_attempts:
        return None
    return policy.delay(max(1, attempts))


def worker_prefix(node: str) -> str:
    return f"{node}."


def is_orphan(
    worker_ids: list[str],
    started_at: datetime.datetime | None,
    now: datetime.datetime,
    node: str,
    lease: float,
) -> bool:
    """A RUNNING row nobody is running: claimed last by this node's earlier worker, or past the lease."""
    if worker_ids and worker_ids[-1].startswith(worker_prefix(node)):
        return True
    return started_at is not None and (now - started_at).total_seconds() > lease


def policy_for(row: Any) -> RetryPolicy:
    try:
        return getattr(row.task.func, "retry_policy", DEFAULT_POLICY)
    except Exception:  # the task's code is gone: nothing to retry
        return RetryPolicy(max_attempts=1)


def fail_or_retry(row: Any, exc: BaseException) -> None:
    """Replacement for ``DBTaskResult.set_failed``: one UPDATE that either reschedules or fails the row."""
    from django.utils import timezone
    from django_tasks_db.compat import TaskResultStatus

    attempts = len(row.worker_ids)
    delay = retry_delay(policy_for(row), attempts, exc)
    now = timezone.now()
    row.exception_class_path = f"{type(exc).__module__}.{type(exc).__qualname__}"
    row.traceback = "".join(format_exception(exc))
    row.return_value = None
    if delay is None:
        row.status = TaskResultStatus.FAILED
        row.finished_at = now
        log.error("task %s failed for good after %d attempt(s): %r", row.id, attempts, exc)
    else:
        row.status = TaskResultStatus.READY
        row.run_after = now + datetime.timedelta(seconds=delay)
        row.finished_at = None
        log.warning("task %s attempt %d failed (%r); retrying in %.1fs", row.id, attempts, exc, delay)
    row.save(
        update_fields=[
            "status",
            "run_after",
            "finished_at",
            "exception_class_path",
            "traceback",
            "return_value",
        ]
    )


def requeue_orphans(node: str, lease: float) -> int:
    """Put RUNNING rows left by a dead worker back to READY (or FAILED when out of attempts)."""
    from django.db import transaction
    from django.utils import timezone
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    count = 0
    with transaction.atomic(using="default"):
        rows = DBTaskResult.objects.using("default").select_for_update(skip_locked=True)
        for row in rows.filter(status=TaskResultStatus.RUNNING):
            if not is_orphan(list(row.worker_ids), row.started_at, now, node, lease):
                continue
            attempts = len(row.worker_ids)
            if attempts >= policy_for(row).max_attempts:
                row.status = TaskResultStatus.FAILED
                row.finished_at = now
                row.exception_class_path = "tiers_site.worker.WorkerLost"
                row.traceback = f"the worker running it died {attempts} time(s); not retried again\n"
                row.save(update_fields=["status", "finished_at", "exception_class_path", "traceback"])
            else:
                row.status = TaskResultStatus.READY
                row.run_after = now
                row.save(update_fields=["status", "run_after"])
                count += 1
            log.warning("task %s (%s) was left RUNNING by %s: now %s", row.id, row.task_path,
                        row.worker_ids[-1] if row.worker_ids else "?", row.status)  # fmt: skip
    return count
