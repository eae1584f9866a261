from django.urls import path

from boxoffice import api, views

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("events/<int:event_id>/", views.event_detail, name="event-detail"),
    path("events/<int:event_id>/buy", views.buy, name="buy"),
    path("orders/", views.my_orders, name="my-orders"),
    path("api/login", api.login_view, name="api-login"),
    path("api/events", api.events_view, name="api-events"),
    path("api/events/<int:event_id>", api.event_view, name="api-event"),
    path("api/events/<int:event_id>/orders", api.create_order_view, name="api-create-order"),
    path("api/orders", api.orders_view, name="api-orders"),
]
