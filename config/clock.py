"""The one clock. Every read of "now" goes through `now()`, so billing can be driven at any instant.

A sandbox organization carries its own frozen test clock; everything else reads real UTC time.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class _HasTestClock(Protocol):
    is_sandbox: bool
    frozen_time: dt.datetime | None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def now(organization: _HasTestClock | None = None) -> dt.datetime:
    """Current instant (aware, UTC) for `organization`: its test clock when it is a sandbox, else real time."""
    if organization is not None and getattr(organization, "is_sandbox", False):
        frozen = getattr(organization, "frozen_time", None)
        if frozen is not None:
            return frozen.astimezone(dt.UTC)
    return utc_now()
