"""AWX / Automation Platform: the execution environment definition, the credential type and
the job template's playbook, and the run directory replayed through ansible-runner's
transmit | worker | process streaming protocol (what AWX sends through Receptor).

The credential's injectors are rendered from example inputs and become the job's
environment, as AWX does; the stack's own secret variable is unset, so every secret reaches
pve-provision through the stable PVE_PROVISION_SECRET_<NAME> variables only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import jinja2.sandbox
import pytest
import yaml

from provision.apply.render import secret_env_name
from provision.spec import load_stack

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "examples" / "awx"
BIN = Path(sys.executable).parent
INPUTS = {"pve_token": "root@pam!awx=not-used-by-a-lab", "pbs_password": "awx-pbs-7d2e19"}


def _credential_env() -> dict[str, str]:
    """The job environment AWX builds from the credential type's injectors and its inputs."""
    injectors = yaml.safe_load((AWX / "credential-type.yml").read_text())["injectors"]["env"]
    sandbox = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    return {name: sandbox.from_string(template).render(**INPUTS) for name, template in injectors.items()}


def test_execution_environment_context_is_created_offline(tmp_path: Path) -> None:
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(AWX / "execution-environment.yml"),
                           "-c", str(tmp_path / "ctx"), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "ctx" / "_build" / "requirements.txt").read_text().split() == ["pve-provision==0.1.0"]
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    assert 'ANSIBLE_INSTALL_REFS="ansible-core>=2.16 ansible-runner>=2.4"' in containerfile
    assert "ENV PROVISION_HOME=/var/lib/pve-provision" in containerfile

    broken = tmp_path / "broken.yml"  # ansible-builder does check the definition
    broken.write_text((AWX / "execution-environment.yml").read_text().replace("base_image:", "base_imag:"))
    bad = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(broken), "-c", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0


def test_credential_injects_the_names_the_stacks_and_playbooks_use() -> None:
    env = _credential_env()
    pve9 = load_stack(ROOT / "stacks" / "pve9-example.yaml").cluster
    assert pve9.connection is not None and pve9.connection.api is not None
    assert env[str(pve9.connection.api.token.env)] == INPUTS["pve_token"]
    lab = load_stack(ROOT / "stacks" / "lab.yaml").cluster
    refs = [f"env:{s.password.env}" for s in lab.storage if s.type == "pbs"]
    assert refs == ["env:PBS_PASSWORD"]
    assert env[secret_env_name(refs[0])] == INPUTS["pbs_password"]


# -- against a lab ------------------------------------------------------------------
PBS = """\
  - name: {name}
    type: pbs
    server: 192.168.10.7
    datastore: {name}
    username: awx@pbs
    password: {{env: PBS_PASSWORD}}
    content: [backup]
"""


class Repo:
    """A stack repository (the AWX project) and the environment of an AWX job."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        base = {k: v for k, v in os.environ.items() if k != "PBS_PASSWORD"}
        self.env = {**base, "PROVISION_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}", "NO_COLOR": "1"}

    def stack(self, *storages: str) -> None:
        text = (ROOT / "stacks" / "lab.yaml").read_text()
        extra = "".join(PBS.format(name=n) for n in storages)
        (self.root / "stacks").mkdir(parents=True, exist_ok=True)
        (self.root / "stacks" / "prod.yaml").write_text(text.replace("\nha:\n", f"\n{extra}ha:\n", 1))

    def run(self, *argv: str, env: dict[str, str] | None = None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(argv), cwd=self.root, env={**self.env, **(env or {})}, capture_output=True,
                              timeout=600, input=stdin)

    def provision(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return self.run(str(BIN / "provision"), *args, env=env)

    def stored_password(self, storage: str) -> str:
        path = self.home / "labs" / "default" / "pmxcfs" / "pve01" / "priv" / "storage" / f"{storage}.pw"
        return path.read_text().rstrip("\n")  # PVE writes the password as a line


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """The reference cluster, built (`lab up --from`), and a stack repository for it."""
    repo = Repo(tmp_path_factory.mktemp("repo"), tmp_path_factory.mktemp("home"))
    repo.stack()
    up = repo.provision("lab", "up", "--from", "stacks/prod.yaml")
    assert up.returncode == 0, up.stderr
    try:
        yield repo
    finally:
        repo.provision("lab", "down")


@pytest.mark.e2e
@pytest.mark.ansible
def test_job_template_playbook_applies_the_committed_plan_with_the_credential(repo: Repo) -> None:
    repo.stack("pbs-awx")
    (repo.root / "plans").mkdir()
    assert repo.provision("plan", "stacks/prod.yaml", "--out", "plans/prod.json").returncode == 0
    shutil.copy(AWX / "apply.yml", repo.root / "apply.yml")
    job = repo.run(str(BIN / "ansible-playbook"), "apply.yml", env=_credential_env())  # what the job runs
    assert job.returncode == 0, job.stdout.decode()[-3000:]
    assert repo.stored_password("pbs-awx") == INPUTS["pbs_password"]
    replan = repo.provision("plan", "stacks/prod.yaml", "--detailed-exitcode")
    assert replan.returncode == 0, replan.stdout.decode()


def _newest_run(home: Path) -> Path:
    """Run records live in runs/<cluster>/<run> (docs/apply.md)."""
    return max((home / "runs").glob("*/*"), key=lambda p: p.name)


@pytest.mark.e2e
@pytest.mark.ansible
def test_run_directory_replays_through_transmit_worker_process(repo: Repo) -> None:
    repo.stack("pbs-awx", "pbs-replay")
    assert repo.provision("plan", "stacks/prod.yaml", "--out", "plan.json").returncode == 0
    check = repo.provision("apply", "plan.json", "--check", "--auto-approve", env=_credential_env())
    assert check.returncode == 0, check.stderr.decode()
    with pytest.raises(FileNotFoundError):
        repo.stored_password("pbs-replay")  # check mode rendered and probed, changed nothing
    run_dir = _newest_run(repo.home)
    assert json.loads((run_dir / "plan.json").read_text())["actions"][0]["kind"] == "storage_add"

    # AWX's controller transmits the job, an execution node works it with the credential's
    # environment, the controller processes the stream; worker and result directories are
    # private and removed afterwards (ansible-runner writes the environment to
    # artifacts/<ident>/command, as AWX's own job directories hold it).
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o700)
        transmit = repo.run(str(BIN / "ansible-runner"), "transmit", str(run_dir), "-p", "site.yml")
        assert transmit.returncode == 0, transmit.stderr.decode()
        work = repo.run(str(BIN / "ansible-runner"), "worker", "--private-data-dir", f"{scratch}/worker",
                        env=_credential_env(), stdin=transmit.stdout)
        assert work.returncode == 0, work.stderr.decode()
        result = repo.run(str(BIN / "ansible-runner"), "process", f"{scratch}/result", stdin=work.stdout)
        assert result.returncode == 0, result.stderr.decode()
        out = result.stdout.decode()
        assert "failed=0" in out and "unreachable=0" in out
        statuses = [p.read_text().strip() for p in Path(scratch, "result").rglob("status")]
        events = [json.loads(p.read_text()) for p in Path(scratch, "result").rglob("job_events/*.json")]
        assert events and all(INPUTS["pbs_password"] not in json.dumps(e) for e in events)  # no_log holds
        assert statuses == ["successful"]
    assert repo.stored_password("pbs-replay") == INPUTS["pbs_password"]
    replan = repo.provision("plan", "stacks/prod.yaml", "--detailed-exitcode")
    assert replan.returncode == 0, replan.stdout.decode()
