"""Django settings for a Tiers web or worker node: everything comes from the environment.

See tiers_site.config.build and docs/SETTINGS.md.
"""

import os

from tiers_site.config import build

globals().update(build(os.environ))
