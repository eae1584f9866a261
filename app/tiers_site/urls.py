from django.contrib import admin
from django.urls import include, path

from health import views as health_views

urlpatterns = [
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("boxoffice.urls")),
]

handler404 = "health.views.not_found"
handler500 = "health.views.server_error"
