from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed

from . import runtime


class DbRouterConfig(AppConfig):
    name = "dbrouter"
    verbose_name = "Replica-aware database router"

    def ready(self) -> None:
        setting_changed.connect(runtime.on_setting_changed, dispatch_uid="dbrouter-setting-changed")
