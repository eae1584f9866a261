"""Organizer image upload page, and the private files (ticket PDFs, originals) handed out as signed URLs.

Private files never pass through Django: after checking who asks, the view redirects to a presigned S3 URL
(a couple of minutes) on the media host, which proxies it to the private bucket (docs/MEDIA.md).
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from boxoffice.forms import EventImageForm
from boxoffice.models import Event, Order

log = logging.getLogger("tiers.media")
PRIMARY = "default"
STORE_DOWN = "The media store is unreachable right now, so the image was not uploaded. Nothing was saved; try again in a minute."


def can_manage_events(user: object) -> bool:
    return bool(getattr(user, "is_staff", False) and user.has_perm("boxoffice.change_event"))  # type: ignore[attr-defined]


def signed_redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    # The signed URL is this user's: no shared cache may keep the redirect.
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def event_image_upload(request: HttpRequest, event_id: int) -> HttpResponse:
    if not can_manage_events(request.user):
        raise Http404("not an organizer")
    event = Event.objects.using(PRIMARY).filter(pk=event_id).first()
    if event is None:
        raise Http404(f"no event {event_id}")
    status = 200
    if request.method == "POST":
        form = EventImageForm(request.POST, request.FILES)
        if form.is_valid():
            stored = ""
            try:
                with transaction.atomic(using=PRIMARY):
                    locked = Event.objects.select_for_update().get(pk=event_id)
                    previous = locked.image.name
                    locked.image.save(form.cleaned_data["image"].name, form.cleaned_data["image"], save=False)
                    stored = locked.image.name
                    locked.save(update_fields=["image"])  # post_save queues the thumbnails, same txn
            except (BotoCoreError, ClientError) as exc:
                log.warning("upload of event %s image failed: %s", event_id, exc)
                form.add_error("image", STORE_DOWN)
                status = 503
            except BaseException:
                if stored:  # the object was stored but the row was not: remove it, nothing half-stored
                    locked.image.storage.delete(stored)
                raise
            else:
                if previous and previous != stored:
                    transaction.on_commit(lambda: _delete_quietly(locked, previous), using=PRIMARY)
                messages.success(request, "Image uploaded; its thumbnail will appear in a few seconds.")
                return redirect("event-image-upload", event_id=event_id)
        else:
            status = 400
    else:
        form = EventImageForm()
    context = {"event": event, "form": form}
    return render(request, "boxoffice/event_image.html", context, status=status)


def _delete_quietly(event: Event, name: str) -> None:
    try:
        event.image.storage.delete(name)
    except Exception:
        log.warning("could not delete replaced original %s", name, exc_info=True)


@require_safe
@login_required
def ticket_pdf(request: HttpRequest, order_id: int) -> HttpResponse:
    """The buyer's ticket (or any, for an organizer). Read on the primary: the worker wrote it."""
    orders = Order.objects.using(PRIMARY).filter(pk=order_id)
    if not can_manage_events(request.user):
        orders = orders.filter(user=request.user)
    order = orders.first()
    if order is None:
        raise Http404("no such order")  # another buyer's order looks like a missing one
    if not order.ticket_pdf:
        raise Http404("the ticket is being prepared; try again in a few seconds")
    return signed_redirect(order.ticket_pdf.url)


@require_safe
@login_required
def event_original(request: HttpRequest, event_id: int) -> HttpResponse:
    """The uploaded original (the only image of an unpublished event): organizers only."""
    if not can_manage_events(request.user):
        raise Http404("not an organizer")
    event = Event.objects.using(PRIMARY).filter(pk=event_id).first()
    if event is None or not event.image:
        raise Http404("no image")
    return signed_redirect(event.image.url)


@require_safe
def bench_stream(request: HttpRequest, name: str) -> HttpResponse:
    """Local profile only, for docs/BENCHMARKS.md: a public media file streamed from S3 through Django,
    the path the media host exists to avoid. 404 under the production profile."""
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.http import FileResponse

    if settings.TIERS_PROFILE != "local" or not name.startswith("events/"):
        raise Http404("not here")
    try:
        return FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")
    except FileNotFoundError:
        raise Http404("no such file") from None
