"""Package attributes imported on first use (PEP 562 module `__getattr__`).

A package `__init__` that re-exports its public names imports every submodule with the
package, so a command that needs one of them pays for all (issue #17: `provision plan`
imported the CRM placement code and every action model before its first request). A
package lists where each name lives instead, and this imports that submodule when the
name is first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps a public name to the module
    that defines it; the value is cached in the package once imported."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_attributes"]
