"""Every celery-beat entry, in one place, each with when and why. (Billing runs and dunning join here.)"""

from __future__ import annotations

BEAT_SCHEDULE: dict[str, dict] = {}
