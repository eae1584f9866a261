from django.apps import AppConfig


class GuardConfig(AppConfig):
    name = "guard"
    verbose_name = "Account and admin protection"

    def ready(self) -> None:
        from guard import checks  # noqa: F401  (registers the system checks)
