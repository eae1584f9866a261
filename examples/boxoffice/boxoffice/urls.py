from django.urls import path

from boxoffice import api, media_views, queue_views, views

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("events/<int:event_id>/", views.event_detail, name="event-detail"),
    path("events/<int:event_id>/buy", views.buy, name="buy"),
    # The waiting room (served by the queue nodes: the LB routes these two paths there).
    path("events/<int:event_id>/queue", queue_views.waiting_page, name="waiting-page"),
    path("orders/", views.my_orders, name="my-orders"),
    path("orders/<int:order_id>/ticket.pdf", media_views.ticket_pdf, name="ticket-pdf"),
    path("organizer/events/<int:event_id>/image", media_views.event_image_upload, name="event-image-upload"),
    path("organizer/events/<int:event_id>/original", media_views.event_original, name="event-original"),
    # Local profile only: the Django side of the media benchmark (docs/BENCHMARKS.md).
    path("_bench/media/<path:name>", media_views.bench_stream, name="bench-media"),
    path("api/login", api.login_view, name="api-login"),
    path("api/events", api.events_view, name="api-events"),
    path("api/events/<int:event_id>", api.event_view, name="api-event"),
    path("api/events/<int:event_id>/orders", api.create_order_view, name="api-create-order"),
    path("api/events/<int:event_id>/queue", queue_views.queue_view, name="api-queue"),
    path("api/orders", api.orders_view, name="api-orders"),
]
