from django.apps import AppConfig


class BoxofficeConfig(AppConfig):
    name = "boxoffice"
    verbose_name = "Box office"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from boxoffice import caching
        from boxoffice.models import Event

        post_save.connect(caching.event_changed, sender=Event, dispatch_uid="boxoffice-event-saved")
        post_delete.connect(caching.event_changed, sender=Event, dispatch_uid="boxoffice-event-deleted")
