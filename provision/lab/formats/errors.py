"""The one exception family of the format modules.

Callers (API handlers, node CLIs) turn these into HTTP 500/400 replies or CLI exit 1 with the
message as PVE would print it, so each message mimics PVE's wording. Subclassing ``ValueError``
keeps them catchable by code that only knows "bad input".
"""

from __future__ import annotations


class FormatError(ValueError):
    """A config text that cannot be read, or a config that must not be written."""
