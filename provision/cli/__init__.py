"""The ``provision`` command.

Each sub-area owns one module here that exposes ``register(app)``. The modules are
imported only when one of their commands runs (or shows its own ``--help``): a command
pays for the packages it uses and no other, so ``provision --help`` and ``provision
validate`` start in a fraction of the time it took to import the planner, Ansible
rendering and the lab's TLS code. ``COMMANDS`` is the table of contents; the root
``--help`` lists it from there, and tests check each entry against its module.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import typer
import typer.core
import typer.main

from provision.cli import richhelp
from provision.cli.coercion import light
from provision.cli.common import optional_values
from provision.cli.metavars import readable

# command -> (module that registers it, its one-line help in `provision --help`), in the
# order `provision --help` lists them. A module listed here that is not yet present is
# skipped, so areas can land independently; tests/cli/test_lazy_cli.py checks every line
# against the command the module registers.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("provision.cli.validate", "Load stack files, cross-check them and run the best-practice rules."),
    "rules": ("provision.cli.validate", "List the rule catalogue: id, severity and title of every check."),
    "schema": ("provision.cli.validate", "Print the JSON Schema of a stack file, for editor completion."),
    "plan": ("provision.cli.plan", "Compare a stack with the live cluster and print the ordered plan."),
    "show": ("provision.cli.plan", "Render a stored plan."),
    "drift": ("provision.cli.plan", "Exit 2 with a report when the cluster drifted from the stack, 0 when it "
              "matches."),
    "import": ("provision.cli.plan", "Write a stack file from a live cluster (comments mark defaults left out)."),
    "apply": ("provision.cli.apply", "Apply a stack or a stored plan to the cluster through generated Ansible "
              "playbooks."),
    "simulate": ("provision.cli.simulate", "Simulate node failures, clean shutdowns and reboots, HA maintenance, "
                 "link and network failures: quorum, HA recovery, Ceph, capacity."),
    "drill": ("provision.cli.drill", "Put NODE into HA maintenance, compare every move with `simulate`, take it "
              "out, report."),
    "lab": ("provision.cli.lab", "Simulated Proxmox VE clusters for trying pve-provision without hardware."),
}

# Packages of the `lab` extra (pyproject.toml). Without them every command but
# `provision lab` works, and that one says how to get them. (The lab server runs in
# a process of its own, so a missing package would otherwise surface only there.)
_LAB_EXTRA = ("starlette", "uvicorn", "cryptography")
_LAB = "provision.cli.lab"


class LazyGroup(typer.core.TyperGroup):
    """The root command: subcommands are built from their module on first use.

    Listing them (the root ``--help``) needs only their names and one-line helps, which
    ``COMMANDS`` holds; stand-ins carry those while the root help is printed."""

    placeholders = False
    """Give loaded commands readable value placeholders (``metavars.readable``), as
    ``main`` does for the whole tree."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built: dict[str, Any] = {}
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [name for name, (module, _) in COMMANDS.items() if _present(module)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS or not _present(COMMANDS[cmd_name][0]):
            return None
        module = COMMANDS[cmd_name][0]
        if self._listing and cmd_name not in self._built and not (module == _LAB and _missing_lab_extra()):
            return typer.core.TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        if cmd_name not in self._built:
            self._build(module)
        return self._built.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _build(self, module_name: str) -> None:
        """Every command `module_name` registers, built as typer builds them."""
        sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        if module_name == _LAB and (missing := _missing_lab_extra()):
            _register_lab_missing(sub, missing)
        else:
            importlib.import_module(module_name).register(sub)
        for name, command in typer.main.get_group(sub).commands.items():
            if self.placeholders:
                readable(command)
            light(command)
            self._built[name] = command


def _present(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


def _missing_lab_extra() -> str:
    return ", ".join(p for p in _LAB_EXTRA if importlib.util.find_spec(p) is None)


def _register_lab_missing(app: typer.Typer, package: str) -> None:
    @app.command("lab", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 help="The embedded PVE lab (needs the `lab` extra: pip install 'pve-provision[lab]').")
    def lab_missing(ctx: typer.Context) -> None:
        typer.echo(f"error: `provision lab` needs the lab extra ({package} not installed): "
                   "pip install 'pve-provision[lab]'", err=True)
        raise typer.Exit(1)


app = typer.Typer(
    name="provision",
    help="Declarative provisioning for Proxmox VE HA clusters: validate, plan, apply, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    pass


def main() -> None:
    """Console-script entry point.

    Exit code 2 means "changes present" (plan/drift), so a usage error must not
    produce it the way click does by default: usage errors exit 1 here.
    """
    # pydantic looks for plugins in every installed package's entry points when it builds
    # the first model (tens of ms per command); the CLI uses none
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    richhelp.install()
    command = typer.main.get_command(app)
    assert isinstance(command, LazyGroup)
    command.placeholders = True
    readable(command)
    light(command)
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

