from django.apps import AppConfig


class BoxofficeConfig(AppConfig):
    name = "boxoffice"
    verbose_name = "Box office"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from boxoffice import caching, tasks
        from boxoffice.models import Event

        post_save.connect(caching.event_changed, sender=Event, dispatch_uid="boxoffice-event-saved")
        post_delete.connect(caching.event_changed, sender=Event, dispatch_uid="boxoffice-event-deleted")
        # New original, publish, unpublish: the worker (re)makes or removes the public images.
        post_save.connect(tasks.event_saved, sender=Event, dispatch_uid="boxoffice-event-images")
