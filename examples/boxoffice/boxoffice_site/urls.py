"""The box office's URLs. /healthz and /readyz are not here: the Tiers integration answers them itself
(health.middleware.HealthEndpointsMiddleware), for this project as for any other."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("boxoffice.urls")),
]

# The integration's handlers: JSON errors under /api/, and the read-only 503 page for a database outage
# that surfaces outside a view (a project without these gets Django's own 404/500 pages).
handler404 = "health.views.not_found"
handler500 = "health.views.server_error"
