"""Readable value placeholders in `--help`.

typer labels a parameter by its Python type (`<bool>`, `<str>`, `<list[str]>`,
`<path>`), which tells a user nothing: a flag takes no value at all, and a repeatable
`--target` takes one address per use. This pass, run on the built command tree, keeps
every metavar a command declares and replaces only typer's type labels: flags (and
`--help`) show none, choices show their values (`text|json`), anything else the
parameter's own name in capitals (`--lab LAB`, `STACK`), with `...` when it may be
given several times.
"""

from __future__ import annotations

from typing import Any

# typer vendors its own copy of click (typer._click) and renders help from each
# parameter's `display_type_rich(ctx)`, so the tree is walked by the attributes
# click's classes share, and that method is answered per parameter.


def _placeholder(param: Any) -> str:
    option = getattr(param, "param_type_name", "") == "option"
    if param.metavar is not None:
        return str(param.metavar)
    if option and (getattr(param, "is_flag", False) or getattr(param, "count", False)):
        return ""
    desc = getattr(param, "type_descriptor", None)
    if getattr(desc, "is_choice", False):
        text = "|".join(str(getattr(c, "value", c)) for c in getattr(desc, "choices", None) or ())
    else:
        text = (param.name or "value").upper()
    if getattr(param, "multiple", False) or (not option and getattr(param, "nargs", 1) != 1):
        text += " ..."
    return text


def readable(command: Any) -> None:
    """Readable placeholders on every parameter of `command` and the commands below it."""
    params = list(command.params)
    helper = command.get_help_option(command.context_class(command))
    if helper is not None:
        params.append(helper)
    for param in params:
        text = _placeholder(param)
        if getattr(param, "param_type_name", "") == "option":
            param.metavar = text or None
            shown = text
        else:  # an argument's name is its own column already
            param.metavar, shown = text, "..." if text.endswith(" ...") else ""
        param.display_type_rich = lambda ctx, shown=shown: shown or None
    for sub in (getattr(command, "commands", None) or {}).values():
        readable(sub)


__all__ = ["readable"]
