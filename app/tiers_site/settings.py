"""The settings module of every Tiers app node: the project's own settings, the cluster's on top.

``TIERS_APP_SETTINGS`` names the project's settings module (tiers.toml ``settings``); it is imported as
it is, then :func:`tiers_site.config.layer` sets what the cluster decides (docs/APPS.md lists every key and
how a project keeps its own). Nothing in the project changes.
"""

import importlib
import os

from django.core.exceptions import ImproperlyConfigured

from tiers_site.config import layer

_name = os.environ.get("TIERS_APP_SETTINGS", "").strip()
if not _name:
    raise ImproperlyConfigured("TIERS_APP_SETTINGS is not set: it names the project's own settings module")
_project = importlib.import_module(_name)
globals().update(layer({k: getattr(_project, k) for k in dir(_project) if k.isupper()}, os.environ))
