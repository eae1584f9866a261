from __future__ import annotations

from django.apps import AppConfig


class DbRouterConfig(AppConfig):
    name = "dbrouter"
    verbose_name = "Replica-aware database router"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from . import conf

        setting_changed.connect(conf.on_setting_changed, dispatch_uid="dbrouter-setting-changed")
