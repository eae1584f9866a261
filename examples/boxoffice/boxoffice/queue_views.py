"""The waiting room's endpoints, served by the queue nodes (docs/ONSALE.md): join, poll, the HTML page.

``POST /api/events/<id>/queue`` joins the line (or finds the buyer's place) and answers the place token
with the current state; ``GET`` with that token (``Queue-Token`` header or ``?token=``) answers the state:
waiting (position, estimated wait), admitted (an admission token for the purchase), sold out, done.
"""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from boxoffice import admission, waitingroom
from boxoffice.api import api, error
from boxoffice.validation import MAX_PER_ORDER
from boxoffice.views import event_or_404


@never_cache
@api("POST", auth=True)
def _join(request: HttpRequest, event_id: int) -> HttpResponse:
    entry = waitingroom.join(event_id, request.user)
    token = admission.sign_place(event_id, request.user.pk, entry.pk, entry.ordinal)
    return JsonResponse({"token": token, **waitingroom.poll(event_id, request.user.pk, token)}, status=201)


@never_cache
@api("GET")
def _poll(request: HttpRequest, event_id: int) -> HttpResponse:
    # The cheapest request of an onsale, asked every few seconds by everyone in line: the buyer is the
    # session's user id (one memcached read), without loading the user's row as request.user would; the
    # place token must name that same user. Buying checks the full login.
    user_id = request.session.get(SESSION_KEY)
    if not user_id:
        return error(401, "not_authenticated", "log in first: POST /api/login")
    token = request.headers.get("Queue-Token") or request.GET.get("token")
    return JsonResponse(waitingroom.poll(event_id, int(user_id), token))


def queue_view(request: HttpRequest, event_id: int) -> HttpResponse:
    """POST: join the line; GET (with the place token): where am I?"""
    return (_join if request.method == "POST" else _poll)(request, event_id)


@never_cache
@require_safe
@login_required
def waiting_page(request: HttpRequest, event_id: int) -> HttpResponse:
    event = event_or_404(event_id)
    context = {
        "event": event,
        "queue_url": admission.queue_url(event_id),
        "csrf_token_value": get_token(request),
        "max_per_order": MAX_PER_ORDER,
    }
    return render(request, "boxoffice/waiting.html", context)
