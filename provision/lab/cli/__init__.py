"""Lab node CLIs (``pvecm``, ``pvesh``, ...): PVE's command syntax over the handler registry."""

from __future__ import annotations
