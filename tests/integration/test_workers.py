"""Background tasks on the real worker node: off the request path, retried, and never lost to a crash."""

from __future__ import annotations

import time

import pytest

from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
from tests.integration.helpers import create_event, manage_py, wait_until
from tests.integration.media import (
    event_images,
    media_get,
    organizer,
    png,
    query,
    tasks_for,
    timed,
    upload,
    wait_for_thumbnail,
)

pytestmark = pytest.mark.integration
EVENT_IMAGES = "boxoffice.tasks.event_images"


def enqueue_images(event_id: int, hold_seconds: float = 0) -> None:
    manage_py(
        "from boxoffice.tasks import event_images; "
        f"print(event_images.enqueue({event_id}, hold_seconds={hold_seconds}).id)"
    )


def worker_state(cluster: Cluster) -> str:
    return cluster.supervisor.info(cluster.topo.by_role("worker")[0].name)["statename"]


def test_thumbnail_is_made_by_the_worker_after_the_upload_returned(cluster: Cluster) -> None:
    event_id = create_event(10, "Thumbnail off the request path")
    # A big image: the thumbnail takes the worker a while, the upload does not wait for it.
    response, seconds = timed(lambda: upload(organizer(cluster, 0), event_id, png((3000, 2000), "orange")))
    assert response.status_code == 302
    assert response.headers["X-Served-By"] == "web1"
    _original, _display, thumb = wait_for_thumbnail(cluster, event_id)
    [task] = tasks_for(cluster, EVENT_IMAGES, f"[{event_id}]")
    assert task["status"] == "SUCCESSFUL"
    assert len(task["worker_ids"]) == 1 and task["worker_ids"][0].startswith("worker1.")
    # Queued on commit, started after the request had finished with it.
    assert task["started_at"] >= task["enqueued_at"]
    thumb_image = media_get(cluster, f"/media/{thumb}")
    assert thumb_image.status_code == 200 and thumb_image.headers["Content-Type"] == "image/jpeg"
    print(
        f"upload request {seconds:.2f}s; task ran {(task['finished_at'] - task['started_at']).total_seconds():.2f}s"
    )


def test_worker_killed_mid_task_still_produces_the_thumbnail(cluster: Cluster) -> None:
    event_id = create_event(10, "Worker crash drill")
    # Unpublished: the upload itself queues nothing; the drill's task is the only one for this event.
    manage_py(
        f"from boxoffice.models import Event; Event.objects.filter(pk={event_id}).update(published=False)"
    )
    assert upload(organizer(cluster, 1), event_id, png((800, 600), "navy")).status_code == 302
    manage_py(
        f"from boxoffice.models import Event; Event.objects.filter(pk={event_id}).update(published=True)"
    )
    enqueue_images(event_id, hold_seconds=4)
    worker = cluster.topo.by_role("worker")[0].name

    def running() -> bool:
        tasks = tasks_for(cluster, EVENT_IMAGES, f"[{event_id}]")
        return bool(tasks) and tasks[0]["status"] == "RUNNING"

    wait_until(running, "the worker to start the task", 15, 0.1)
    try:
        deploy_cli("kill", worker)
        assert worker_state(cluster) != "RUNNING"
        time.sleep(5)  # longer than the task would have taken: nothing finishes it while the worker is down
        [task] = tasks_for(cluster, EVENT_IMAGES, f"[{event_id}]")
        assert task["status"] == "RUNNING"
        assert not event_images(cluster, event_id)[2]
    finally:
        deploy_cli("start", worker)
    _original, display, _thumb = wait_for_thumbnail(cluster, event_id, 30)
    [task] = tasks_for(cluster, EVENT_IMAGES, f"[{event_id}]")
    assert task["status"] == "SUCCESSFUL"
    assert len(task["worker_ids"]) == 2  # the killed attempt and the one after the restart
    assert media_get(cluster, f"/media/{display}").status_code == 200


def test_a_failing_task_is_retried_with_backoff_then_recorded_failed(cluster: Cluster) -> None:
    event_id = create_event(10, "Original lost")
    # The row points at an original that is not in the bucket: every attempt fails the same way.
    manage_py(
        "from boxoffice.models import Event; "
        f"Event.objects.filter(pk={event_id}).update(image='events/originals/gone-{event_id}.png')"
    )
    enqueue_images(event_id)

    def finished() -> bool:
        tasks = tasks_for(cluster, EVENT_IMAGES, f"[{event_id}]")
        return bool(tasks) and tasks[0]["status"] == "FAILED"

    wait_until(finished, "the task to fail for good", 30, 0.2)
    [task] = tasks_for(cluster, EVENT_IMAGES, f"[{event_id}]")  # one row, retried in place: never lost
    assert len(task["worker_ids"]) == 3  # RetryPolicy(max_attempts=3)
    assert task["error"] in ("builtins.FileNotFoundError", "botocore.exceptions.ClientError")
    assert f"gone-{event_id}.png" in task["traceback"] or "404" in task["traceback"]
    # Backoff 1 s then 2 s between the three attempts.
    assert (task["finished_at"] - task["enqueued_at"]).total_seconds() >= 3
    assert not event_images(cluster, event_id)[2]


def test_order_confirmation_is_queued_only_when_the_order_commits(cluster: Cluster) -> None:
    event_id = create_event(1, "One seat")
    before = query(cluster, "SELECT count(*) FROM django_tasks_database_dbtaskresult "
                            "WHERE task_path = 'boxoffice.tasks.order_confirmation'")[0][0]  # fmt: skip
    from tests.integration.client import BoxOffice
    from tests.integration.helpers import lb

    buyer = BoxOffice(lb(cluster)).login("demo", "demo")
    assert buyer.buy(event_id, 1).status_code == 201
    assert buyer.buy(event_id, 1).status_code == 409  # sold out: rolled back, nothing queued
    after = query(cluster, "SELECT count(*) FROM django_tasks_database_dbtaskresult "
                           "WHERE task_path = 'boxoffice.tasks.order_confirmation'")[0][0]  # fmt: skip
    assert after == before + 1
