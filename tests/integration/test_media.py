"""The media tier on the real cluster: uploads through a web node, served and cached by the nginx media
host, S3 outages, refused uploads, private files behind signed URLs (docs/MEDIA.md)."""

from __future__ import annotations

import re

import pytest
import requests

from deploy.commands.context import Cluster
from tests.images import png_claiming
from tests.integration.client import BoxOffice
from tests.integration.helpers import create_event, lb, manage_py, url, wait_until
from tests.integration.media import (
    bucket_keys,
    event_images,
    form_errors,
    media_get,
    organizer,
    png,
    readyz_s3_ok,
    s3_stopped,
    timed,
    upload,
    wait_for_thumbnail,
)

pytestmark = pytest.mark.integration


def media_url(cluster: Cluster) -> str:
    return url(cluster.topo.one("media"))


def image_on_page(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


@pytest.fixture
def published_image(cluster: Cluster) -> tuple[int, str]:
    """A published event with an image uploaded through web1, once its public copies exist."""
    event_id = create_event(50, "Media event")
    r = upload(organizer(cluster, 0), event_id, png())
    assert r.status_code == 302, r.text[:500]
    _original, display, _thumb = wait_for_thumbnail(cluster, event_id)
    return event_id, display


def test_upload_on_web1_is_served_by_the_media_host_and_shown_by_web2(
    cluster: Cluster, published_image: tuple[int, str]
) -> None:
    event_id, display = published_image
    page = requests.get(f"{url(cluster.topo.by_role('web')[1])}/events/{event_id}/", timeout=10)
    assert page.status_code == 200 and page.headers["X-Served-By"] == "web2"
    assert image_on_page(page.text) == [f"{media_url(cluster)}/media/{display}"]
    first = media_get(cluster, f"/media/{display}")
    second = media_get(cluster, f"/media/{display}")
    assert first.status_code == second.status_code == 200
    assert first.headers["Content-Type"] == "image/jpeg" and first.content[:3] == b"\xff\xd8\xff"
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.content == first.content
    assert not [h for h in second.headers if h.lower().startswith("x-amz")]


def test_with_s3_stopped_cached_media_pages_render_uploads_fail_and_readyz_says_so(
    cluster: Cluster, published_image: tuple[int, str]
) -> None:
    event_id, display = published_image
    assert media_get(cluster, f"/media/{display}").status_code == 200  # now in nginx's cache
    fresh = create_event(5, "Upload while S3 is down")
    before = bucket_keys(cluster)
    org = organizer(cluster, 0)
    with s3_stopped(cluster):
        cached = media_get(cluster, f"/media/{display}")
        assert cached.status_code == 200 and cached.headers["X-Cache-Status"] in ("HIT", "STALE")
        # Something never fetched before is a clean 502, not a hang.
        missing, seconds = timed(lambda: media_get(cluster, "/media/events/display/never-cached.jpg"))
        assert missing.status_code == 502 and seconds < 5
        for base in (url(cluster.topo.by_role("web")[0]), url(cluster.topo.by_role("web")[1]), lb(cluster)):
            for path in ("/", f"/events/{event_id}/"):
                r = requests.get(base + path, timeout=10)
                assert r.status_code == 200, (base, path, r.status_code)
        r, seconds = timed(lambda: upload(org, fresh, png()))
        assert r.status_code == 503 and seconds < 10
        assert any("media store is unreachable" in e for e in form_errors(r.text)), r.text[-800:]
        wait_until(lambda: not readyz_s3_ok(cluster), "/readyz to report S3 down", 10)
        body = requests.get(f"{url(cluster.topo.by_role('web')[0])}/readyz", timeout=5).json()
        assert body["checks"]["s3"]["ok"] is False
        assert body["ready"] is True  # S3 down never takes a web node out of the load balancer
    assert event_images(cluster, fresh) == ("", "", "")
    assert bucket_keys(cluster) == before


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.png", b"These are my notes, renamed to look like a picture.\n" * 50, "by its content"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024 + 10), "the limit is 5 MB"),
        ("bomb.png", png_claiming(60_000, 60_000), "megapixels"),
    ],
    ids=["text-renamed-png", "oversize", "pixel-bomb"],
)
def test_bad_uploads_are_refused_with_a_message_and_store_nothing(
    cluster: Cluster, name: str, data: bytes, message: str
) -> None:
    event_id = create_event(5, "Bad upload")
    before = bucket_keys(cluster)
    r = upload(organizer(cluster, 0), event_id, data, name)
    assert r.status_code == 400
    errors = form_errors(r.text)
    assert any(message in e for e in errors), errors
    assert event_images(cluster, event_id) == ("", "", "")
    assert bucket_keys(cluster) == before


def test_admin_refuses_a_bad_image_with_a_field_message(cluster: Cluster) -> None:
    event_id = create_event(5, "Admin upload")
    org = organizer(cluster, 1)
    change = f"/admin/boxoffice/event/{event_id}/change/"
    form = {
        "title": "Admin upload", "venue": "Hall", "starts_at_0": "2030-01-01", "starts_at_1": "20:00:00",
        "capacity": "5", "max_tickets_per_buyer": "5", "price": "10.00", "published": "on", "csrfmiddlewaretoken": org.csrf,
    }  # fmt: skip
    before = bucket_keys(cluster)
    r = org.post(change, data=form, files={"image": ("cat.png", b"plain text, not a picture" * 10, "image/png")},
                 allow_redirects=False)  # fmt: skip
    assert r.status_code == 200  # the form again, with errors
    assert "not an image Tiers accepts" in r.text
    assert bucket_keys(cluster) == before
    r = org.post(change, data=form, files={"image": ("cat.png", png((300, 200)), "image/png")},
                 allow_redirects=False)  # fmt: skip
    assert r.status_code == 302, r.text[-1000:]
    original, display, _thumb = wait_for_thumbnail(cluster, event_id)
    assert re.fullmatch(r"events/originals/[0-9a-f]{32}\.png", original), original
    assert media_get(cluster, f"/media/{display}").status_code == 200


def ticket_url(bo: BoxOffice, order_id: int) -> requests.Response:
    return bo.http.get(f"{bo.base}/orders/{order_id}/ticket.pdf", cookies=bo.cookies, allow_redirects=False,
                       timeout=10)  # fmt: skip


def test_ticket_pdf_is_served_to_its_buyer_only(cluster: Cluster) -> None:
    event_id = create_event(20, "Private tickets")
    buyer = BoxOffice(lb(cluster)).login("demo", "demo")
    r = buyer.buy(event_id, 2)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    wait_until(lambda: ticket_url(buyer, order_id).status_code == 302, "the worker's ticket PDF", 30)
    signed = ticket_url(buyer, order_id).headers["Location"]
    assert signed.startswith(f"{media_url(cluster)}/private/{cluster.topo.storage.private_bucket}/tickets/")
    assert "X-Amz-Signature=" in signed
    pdf = requests.get(signed, timeout=10)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["Cache-Control"] == "private, no-store"
    # Another buyer, an anonymous visitor, the URL without or with a forged signature: refused.
    other = BoxOffice(lb(cluster)).login("demo2", "demo2")
    assert ticket_url(other, order_id).status_code == 404
    anonymous = requests.get(f"{lb(cluster)}/orders/{order_id}/ticket.pdf", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
    assert requests.get(signed.split("?")[0], timeout=10).status_code == 404
    forged = re.sub(r"X-Amz-Signature=[0-9a-f]+", "X-Amz-Signature=" + "0" * 64, signed)
    assert requests.get(forged, timeout=10).status_code == 404
    # The object is not reachable as public media either.
    key = signed.split(f"/{cluster.topo.storage.private_bucket}/")[1].split("?")[0]
    assert media_get(cluster, f"/media/{key}").status_code == 404


def test_unpublished_events_image_stays_private_until_published(cluster: Cluster) -> None:
    event_id = create_event(5, "Not yet announced")
    manage_py(
        f"from boxoffice.models import Event; Event.objects.filter(pk={event_id}).update(published=False)"
    )
    org = organizer(cluster, 0)
    assert upload(org, event_id, png((500, 500), "purple")).status_code == 302
    original, display, thumb = event_images(cluster, event_id)
    assert original and not display and not thumb
    served = org.http.get(f"{org.base}/organizer/events/{event_id}/original", cookies=org.cookies,
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert served.status_code == 302
    image = requests.get(served.headers["Location"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    buyer = BoxOffice(lb(cluster)).login("demo", "demo")
    r = buyer.http.get(f"{buyer.base}/organizer/events/{event_id}/original", cookies=buyer.cookies,
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert r.status_code == 404
    assert media_get(cluster, f"/media/{original}").status_code == 404
    # Publishing it (an ordinary save, as the admin does) makes the worker publish the copies.
    manage_py(f"from boxoffice.models import Event; e = Event.objects.get(pk={event_id}); "
              "e.published = True; e.save(); print('ok')")  # fmt: skip
    _original, display, _thumb = wait_for_thumbnail(cluster, event_id)
    assert media_get(cluster, f"/media/{display}").status_code == 200
