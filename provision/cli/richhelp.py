"""typer's help renderer without the parts of rich this CLI never uses.

`typer.rich_utils` (typer 0.29) imports `rich.markdown` (markdown-it, pygments) and the
rich traceback renderer (rich.pretty, attrs) at module level; they cost more CPU than
the rest of `provision --help` together. Help is rendered with
`rich_markup_mode="rich"` (typer's default, and ours), which never builds a `Markdown`,
and tracebacks go through typer's pretty-exception hook, which the app
turns off (`pretty_exceptions_enable=False`). So while `typer.rich_utils` executes, those
two names are bound to stand-ins that import the real class on first use: the output
is the same text, and a code path that does use one still gets rich's own object.

The stand-ins exist only for that one module import: `install()` adds a meta-path
finder that wraps the loader of `typer.rich_utils`, and the wrapper puts them in
`sys.modules` just for the module's own execution, then restores the real state, so any
other `import rich.markdown` in the process gets rich's module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

TARGET = "typer.rich_utils"
# module -> the names `typer.rich_utils` imports from it
_DEFERRED: dict[str, tuple[str, ...]] = {
    "rich.markdown": ("Markdown",),
    "rich.traceback": ("Traceback",),
}


class _Deferred(type):
    """Metaclass of a stand-in: calls and attribute reads go to the real class."""

    _module: str
    _name: str

    def _real(cls) -> Any:
        return getattr(importlib.import_module(cls._module), cls._name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attr: str) -> Any:
        return getattr(cls._real(), attr)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._real())


def _stand_in(module: str, name: str) -> type:
    return _Deferred(name, (), {"_module": module, "_name": name, "__module__": module})


class _Loader(importlib.abc.Loader):
    """Runs the real loader of `typer.rich_utils` with the stand-ins in place."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ...: the real loader's
        return getattr(self.real, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        saved = {name: sys.modules.get(name) for name in _DEFERRED if name not in sys.modules}
        for name, attrs in _DEFERRED.items():
            if name in saved:
                stub = types.ModuleType(name)
                for attr in attrs:
                    setattr(stub, attr, _stand_in(name, attr))
                sys.modules[name] = stub
        try:
            self.real.exec_module(module)
        finally:
            for name in saved:
                sys.modules.pop(name, None)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Defer rich's markdown and traceback modules when typer's help renderer loads."""
    if TARGET in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
