"""Input limits of a stack file.

A stack describes one cluster, and a real cluster is small next to these numbers:
the largest supported shape (32 nodes, 400 OSDs, 2,000 HA resources and their
guests) is a file of about 300 kB with about 40,000 YAML nodes nested 6 deep. The
limits sit far above that and far below what would hang or exhaust the loader, so
that a hostile or broken file is refused in seconds with one clear line instead
of a traceback, a MemoryError or a run of minutes (alias "billion laughs" bombs,
endless nesting, a symlink to /dev/zero). `docs/stack-limits.md` lists them.
"""

from __future__ import annotations

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest stack file read (8 MiB, about 25 times the largest real stack)."""

MAX_NODES = 100_000
"""Most YAML nodes (scalars, lists, mappings) after expanding aliases and merge keys."""

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings (a real stack nests 6 deep)."""

MAX_NUMBER_DIGITS = 32
"""Longest integer literal; no spec field needs more than 20 digits."""

MAX_DIAGNOSTICS = 100
"""Most problems reported for one file; the rest are counted, not listed."""

MAX_SECRET_BYTES = 64 * 1024
"""Largest secret file read (a PBS encryption key or Ceph keyring is under 1 kB)."""
