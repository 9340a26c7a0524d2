"""The installed version of pve-provision, as plan files and SARIF reports name it.

Its own module so that a report needs no more than this (not the planner it was part of)."""

from __future__ import annotations


def tool_version() -> str:
    """The installed distribution's version (from its metadata), or 0.0.0 from a source tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pve-provision")
    except PackageNotFoundError:
        return "0.0.0"


__all__ = ["tool_version"]
