"""Secret references are confined (issue 10 part 2): a `file:` secret resolves next to
the stack and must stay inside the allowed directory, symlinks resolved; an `env:`
secret of a storage must not name pve-provision's own credentials; and reading a
secret never follows a final symlink, blocks on a FIFO or reads /dev/zero forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from provision.spec import SecretRef, SecretUnavailableError, SpecError, load_stack

STACK = """\
name: t
pve_version: 8
{connection}nodes:
  - name: pve01
    nodeid: 1
    address: 10.0.0.11
    interfaces:
      - {{name: eno1, type: nic, address: 10.0.0.11/24}}
corosync:
  links:
    - {{number: 0, network: 10.0.0.0/24}}
storage:
  - name: pbs
    type: pbs
    server: 10.0.0.6
    datastore: main
    username: backup@pbs
    password: {password}
"""
PASSWORD_LINE = 18  # the `password:` line above, when there is no connection block
API = "connection:\n  api:\n    url: https://10.0.0.11:8006\n    token: {env: MY_PVE_API}\n"


def _stack(directory: Path, password: str, connection: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cluster.yaml"
    path.write_text(STACK.format(password=password, connection=connection), encoding="utf-8")
    return path


def _error(path: Path, **kwargs: Path) -> str:
    with pytest.raises(SpecError) as exc:
        load_stack(path, **kwargs)
    assert len(exc.value.diagnostics) == 1, str(exc.value)
    return str(exc.value)


def test_relative_file_resolves_next_to_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISION_SECRETS_DIR", raising=False)
    stack = _stack(tmp_path / "repo", "{file: secrets/pbs.pw}")
    (tmp_path / "repo" / "secrets").mkdir()
    (tmp_path / "repo" / "secrets" / "pbs.pw").write_text("pw-from-file\n")
    monkeypatch.chdir(tmp_path)  # not the stack's directory
    loaded = load_stack(stack)
    ref = loaded.cluster.storage[0].password  # type: ignore[union-attr]
    assert ref.file == (tmp_path / "repo" / "secrets" / "pbs.pw").resolve()
    assert ref.resolve() == "pw-from-file"
    assert ref.describe() == f"file:{(tmp_path / 'repo' / 'secrets' / 'pbs.pw').resolve()}"


@pytest.mark.parametrize("where", ["/etc/shadow", "../outside.pw", "~/.ssh/id_rsa"])
def test_file_outside_the_stack_directory_is_refused(tmp_path: Path, where: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISION_SECRETS_DIR", raising=False)
    stack = _stack(tmp_path / "repo", f"{{file: {where}}}")
    message = _error(stack)
    assert message.startswith(f"{stack}:{PASSWORD_LINE}:16: storage[\"pbs\"].password.file: secret file {where} "
                              "resolves to ")
    assert f"outside the allowed directory {(tmp_path / 'repo').resolve()}" in message
    assert "PROVISION_SECRETS_DIR" in message


def test_symlink_out_of_the_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISION_SECRETS_DIR", raising=False)
    stack = _stack(tmp_path / "repo", "{file: innocent.pw}")
    (tmp_path / "elsewhere.pw").write_text("not yours\n")
    (tmp_path / "repo" / "innocent.pw").symlink_to(tmp_path / "elsewhere.pw")
    assert f"resolves to {(tmp_path / 'elsewhere.pw').resolve()}, outside" in _error(stack)


def test_secrets_dir_option_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "pbs.pw").write_text("from-vault\n")
    stack = _stack(tmp_path / "repo", f"{{file: {vault / 'pbs.pw'}}}")
    monkeypatch.delenv("PROVISION_SECRETS_DIR", raising=False)
    assert "outside the allowed directory" in _error(stack)
    assert load_stack(stack, secrets_dir=vault).cluster.storage[0].password.resolve() == "from-vault"  # type: ignore[union-attr]
    monkeypatch.setenv("PROVISION_SECRETS_DIR", str(vault))
    assert load_stack(stack).cluster.storage[0].password.resolve() == "from-vault"  # type: ignore[union-attr]
    # the stack's own directory is no longer allowed once the variable names another one
    (tmp_path / "repo" / "local.pw").write_text("x\n")
    assert "outside the allowed directory" in _error(_stack(tmp_path / "repo", "{file: local.pw}"))


@pytest.mark.parametrize("name", ["PVE_TOKEN", "PROVISION_HOME", "PVE_PROVISION_SECRET_A001_PASSWORD",
                                  "PVE_LAB_DIR"])
def test_env_naming_the_tools_own_credentials_is_refused(tmp_path: Path, name: str) -> None:
    stack = _stack(tmp_path, f"{{env: {name}}}")
    assert _error(stack) == (f"{stack}:{PASSWORD_LINE}:16: storage[\"pbs\"].password.env: {name} is one of "
                             "pve-provision's own variables, not a storage secret (use a variable of its own, "
                             "e.g. PBS_PASSWORD)")


def test_the_stacks_api_token_cannot_be_a_storage_secret(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "{env: MY_PVE_API}", API)
    assert _error(stack) == (f"{stack}:{PASSWORD_LINE + 4}:16: storage[\"pbs\"].password.env: pbs password is the "
                             "cluster's API token (env:MY_PVE_API) (the API token must never be sent to a "
                             "storage server)")
    assert load_stack(_stack(tmp_path, "{env: PBS_PASSWORD}", API)).cluster.connection is not None


def test_validate_cli_refuses_with_one_line(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "{file: /etc/shadow}")
    env = {k: v for k, v in os.environ.items() if k != "PROVISION_SECRETS_DIR"}
    proc = subprocess.run([sys.executable, "-m", "provision", "validate", str(stack)], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 1
    assert f"{stack}:{PASSWORD_LINE}:16:" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_reading_refuses_symlinks_fifos_and_devices(tmp_path: Path) -> None:
    real = tmp_path / "real.pw"
    real.write_text("ok\n")
    link = tmp_path / "link.pw"
    link.symlink_to(real)
    fifo = tmp_path / "fifo.pw"
    os.mkfifo(fifo)
    big = tmp_path / "big.pw"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    assert SecretRef(file=real).resolve() == "ok"
    for path, reason in ((link, "cannot read secret file"), (fifo, "is not a regular file"),
                         (Path("/dev/zero"), "is not a regular file"), (big, "is larger than 64 KiB")):
        with pytest.raises(SecretUnavailableError, match=reason):
            SecretRef(file=path).resolve()
