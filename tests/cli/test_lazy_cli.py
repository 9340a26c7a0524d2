"""The CLI builds a command from its module only when that command runs: every command is
still there, the root `--help` lists each with its own one-line help, and a command does
not import the packages of the others (the real console entry point in a subprocess).
Nor does it import what typer would pay for and the CLI never uses (#17): typer's
per-parameter pydantic adapters and the parts of rich its help renderer never calls;
skipping them must not change a value or a message."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from provision.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stacks" / "lab.yaml"
SKIPPED = ("typer._adapters", "rich.markdown", "rich.traceback", "markdown_it", "pygments")


def _run(tmp_path: Path, *args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update({"PROVISION_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200"})
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "provision", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _registered(module: str) -> dict[str, str]:
    """The commands `module` registers -> the first paragraph of their help."""
    app = typer.Typer()
    importlib.import_module(module).register(app)
    commands = typer.main.get_group(app).commands
    return {name: " ".join((cmd.help or "").split("\n\n")[0].split()) for name, cmd in commands.items()}


def test_every_command_of_every_module_is_listed_with_its_own_help() -> None:
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        registered = _registered(module)
        listed = {name for name, (m, _) in COMMANDS.items() if m == module}
        assert set(registered) == listed, module
        for name in listed:
            assert COMMANDS[name][1] == registered[name], name


def test_root_help_lists_every_command_in_order(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    shown = re.findall(r"^│ (\w+) ", proc.stdout, flags=re.M)
    assert shown == list(COMMANDS)
    for name, (_, summary) in COMMANDS.items():
        assert summary.split()[0] in proc.stdout, name


def test_each_command_runs_and_shows_its_help(tmp_path: Path) -> None:
    for name in COMMANDS:
        proc = _run(tmp_path, name, "--help")
        assert proc.returncode == 0, (name, proc.stderr)
        assert "Usage: provision " + name in " ".join(proc.stdout.split()), name
    unknown = _run(tmp_path, "no-such-command")
    assert unknown.returncode == 1 and "No such command" in unknown.stderr


def _imports(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def test_a_command_imports_only_what_it_uses(tmp_path: Path) -> None:
    root = _imports(_run(tmp_path, "--help", importtime=True))
    assert not {m for m in root if m.startswith("provision.") and not m.startswith("provision.cli")}, root
    validate = _run(tmp_path, "validate", str(STACK), importtime=True)
    assert validate.returncode == 0, validate.stderr
    loaded = _imports(validate)
    assert "provision.spec" in loaded and "provision.rules" in loaded
    for package in ("provision.plan", "provision.apply", "provision.discover", "provision.lab", "cryptography"):
        assert package not in loaded, package
    plan = _imports(_run(tmp_path, "plan", "--help", importtime=True))
    assert "provision.plan" in plan
    assert "provision.lab" not in plan and "cryptography" not in plan  # the lab's TLS is not plan's to pay


def test_help_and_validate_skip_the_adapters_and_rich_markdown(tmp_path: Path) -> None:
    for args in (("--help",), ("validate", "--help"), ("validate", str(STACK), "--format", "json", "--disable",
                                                      "PVE-Q001", "--disable", "PVE-Q002")):
        proc = _run(tmp_path, *args, importtime=True)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
        loaded = _imports(proc)
        assert "typer.rich_utils" in loaded or (args[0] == "validate" and len(args) > 2)
        skipped = sorted(m for m in loaded if m.startswith(SKIPPED))
        assert not skipped, (args, skipped)
    assert "Usage: provision validate" in " ".join(_run(tmp_path, "validate", "--help").stdout.split())


def test_values_are_converted_as_typer_converts_them(tmp_path: Path) -> None:
    # a repeated option is a list; an enum value picks its member (the JSON format)
    proc = _run(tmp_path, "validate", str(STACK), "--format", "json", "--disable", "PVE-Q001", "--disable", "PVE-Q002")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("[")
    # a value that does not convert gets typer's own message, from typer's own adapter
    bad_choice = _run(tmp_path, "validate", str(STACK), "--format", "yaml")
    assert bad_choice.returncode == 1
    assert "'yaml' is not one of 'text', 'json', 'sarif', 'github'" in " ".join(bad_choice.stderr.split())
    bad_int = _run(tmp_path, "lab", "up", "--name", "helper-st-never", "--nodes", "three")
    assert bad_int.returncode == 1
    assert "Input should be a valid integer" in " ".join(bad_int.stderr.split())
    missing = _run(tmp_path, "validate", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 1 and "missing.yaml" in missing.stdout + missing.stderr


def test_rich_markdown_is_rich_own_module_after_the_help_renderer_loads() -> None:
    code = (
        "import sys\n"
        "from provision.cli import richhelp\n"
        "richhelp.install()\n"
        "import typer.rich_utils as r\n"
        "assert 'rich.markdown' not in sys.modules\n"
        "md = r.Markdown('# title')\n"
        "import rich.markdown\n"
        "assert isinstance(md, rich.markdown.Markdown) and isinstance(md, r.Markdown)\n"
        "assert type(md) is rich.markdown.Markdown\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


HEAVY = ("provision.spec.cluster", "provision.actions.params", "provision.apply.render", "ansible_runner")
"""The spec models, the action parameter models, the playbook renderer, Ansible's runner."""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_help_builds_no_models(tmp_path: Path, command: str) -> None:
    """`provision COMMAND --help` only describes the command: it builds none of the
    pydantic models and loads neither the renderer nor Ansible (issue #17, start-up)."""
    proc = _run(tmp_path, command, "--help", importtime=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = _imports(proc)
    assert not {m for m in loaded if m.startswith(HEAVY)}, sorted(m for m in loaded if m.startswith(HEAVY))
