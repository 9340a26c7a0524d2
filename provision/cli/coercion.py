"""Command-line values converted without building a pydantic TypeAdapter per parameter.

typer 0.29 converts every parameter value through a pydantic `TypeAdapter` that it
builds on the parameter's first use (`typer._adapters`). Importing that module and
building the adapters of one command costs about a tenth of a second of CPU, more than
the whole `provision --help`, for values that are a path, a string, a choice or an
integer. `light(command)` gives each parameter of the tree a conversion that does what
those adapters' validators do for those plain cases, through the same typer helpers
(`coerce_cli_choice`, `coerce_cli_path`), and hands every other value to typer's own
adapter: anything it does not recognise, and every value that fails, so a bad value is
reported with typer's own message. (typer's internals are pinned by what this module
reads; on a typer without them `light` leaves the parameters alone.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

try:  # typer's runtime conversion layer (0.29); older typer converts through click types
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path, lenient_issubclass, routes_to_path
    from typer._typing import is_literal_type, literal_values

    _TYPER_RUNTIME = True
except ImportError:  # pragma: no cover - depends on the installed typer
    _TYPER_RUNTIME = False

_INT = re.compile(r"-?[0-9]+")


class _Typer(Exception):
    """This value is typer's to convert."""


def _leaf(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if info.parser is not None:
        raise _Typer
    if lenient_issubclass(annotation, Enum) or is_literal_type(annotation):
        choices = list(annotation) if lenient_issubclass(annotation, Enum) else literal_values(annotation)
        return coerce_cli_choice(value, choices=choices, case_sensitive=info.case_sensitive, ctx=ctx)
    if annotation is str and isinstance(value, str):
        return value
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is int and info.min is None and info.max is None and not info.clamp:
        if type(value) is int:
            return value
        if isinstance(value, str) and _INT.fullmatch(value):
            return int(value)
        raise _Typer
    if annotation is Path and info.path_type in (None, Path) and routes_to_path(annotation, info):
        if isinstance(value, str) and value:
            value = Path(value)  # what pydantic's Path validation makes of a non-empty string
        if not isinstance(value, Path):
            raise _Typer
        return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
    raise _Typer


if _TYPER_RUNTIME:

    @dataclass(frozen=True)
    class _Light(RuntimeParam):
        """typer's conversion contract; plain values here, the rest through typer."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation: Any = self.annotation
            try:
                if get_origin(annotation) is list:
                    (item,) = get_args(annotation)
                    items = value if isinstance(value, (list, tuple)) else [value]
                    return [_leaf(item, self.parameter_info, v, param, ctx) for v in items]
                return _leaf(annotation, self.parameter_info, value, param, ctx)
            except Exception:
                typer_param = build_runtime_param(param.type_descriptor)
                param._runtime_param = typer_param
                return typer_param._coerce_value(value, param=param, ctx=ctx)


def light(command: Any) -> None:
    """Plain conversions for every parameter of `command` and the commands below it."""
    if not _TYPER_RUNTIME:
        return
    params = list(command.params)
    helper = command.get_help_option(command.context_class(command))  # built once per command
    if helper is not None:
        params.append(helper)
    for param in params:
        desc = getattr(param, "type_descriptor", None)
        if desc is not None and getattr(param, "_runtime_param", False) is None and desc.file_annotation is None:
            param._runtime_param = _Light(annotation=desc.annotation, parameter_info=desc.parameter_info)
    for sub in (getattr(command, "commands", None) or {}).values():
        light(sub)


__all__ = ["light"]
