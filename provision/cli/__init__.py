"""The ``provision`` command.

Each sub-area owns one module here that exposes ``register(app)``; this file only
assembles them, so the CLI stays a thin layer over the public package APIs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer

from provision.cli.common import optional_values
from provision.cli.metavars import readable

app = typer.Typer(
    name="provision",
    help="Declarative provisioning for Proxmox VE HA clusters: validate, plan, apply, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that add commands to ``app``. A module listed here that is not yet
# present is skipped, so areas can land independently.
_COMMAND_MODULES = (
    "provision.cli.validate",
    "provision.cli.lab",
    "provision.cli.plan",
    "provision.cli.apply",
    "provision.cli.simulate",
    "provision.cli.drill",
)


# Packages of the `lab` extra (pyproject.toml). Without them every command but
# `provision lab` works, and that one says how to get them. (The lab server runs in
# a process of its own, so a missing package would otherwise surface only there.)
_LAB_EXTRA = ("starlette", "uvicorn", "cryptography")


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        if name == "provision.cli.lab":
            missing = [p for p in _LAB_EXTRA if importlib.util.find_spec(p) is None]
            if missing:
                _register_lab_missing(", ".join(missing))
                continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


def _register_lab_missing(package: str) -> None:
    @app.command("lab", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 help="The embedded PVE lab (needs the `lab` extra: pip install 'pve-provision[lab]').")
    def lab_missing(ctx: typer.Context) -> None:
        typer.echo(f"error: `provision lab` needs the lab extra ({package} not installed): "
                   "pip install 'pve-provision[lab]'", err=True)
        raise typer.Exit(1)


_register_all()


def main() -> None:
    """Console-script entry point.

    Exit code 2 means "changes present" (plan/drift), so a usage error must not
    produce it the way click does by default: usage errors exit 1 here.
    """
    command = typer.main.get_command(app)
    readable(command)
    try:
        result = command.main(args=optional_values(sys.argv[1:]), prog_name="provision", standalone_mode=False)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors and other click-level failures
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        code = getattr(exc, "exit_code", 1)
        sys.exit(1 if code == 2 else code)
    sys.exit(result if isinstance(result, int) else 0)
