"""The CI examples are valid pipelines, and their shell steps do what they say against a lab.

The GitHub workflows and the GitLab pipeline are checked against the schemas vendored in
check-jsonschema (SchemaStore's github-workflows and gitlab-ci; no network), the pre-commit
hook manifest with pre-commit's own validator. Then the steps that run pve-provision are
run as the CI service would run them (bash -e, the workflow's environment, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files) in a checkout holding the reference stack as stacks/prod.yaml,
against a blank lab; steps that call an action are not run, but the files they read must exist.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GITHUB = ROOT / "examples" / "github-actions"
GITLAB = ROOT / "examples" / "gitlab-ci" / ".gitlab-ci.yml"
WORKFLOWS = sorted(GITHUB.glob("*.yml"))
ARTIFACT_URL = "https://github.com/acme/infra/actions/runs/42/artifacts/7"
EXPRESSIONS = {  # what GitHub would substitute; an expression not listed here fails the test
    "secrets.PVE_TOKEN_READONLY": "unused-by-a-lab-connection",
    "steps.artifact.outputs.artifact-url": ARTIFACT_URL,
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)


# -- schemas ------------------------------------------------------------------------
def test_github_workflows_match_the_workflow_schema(tmp_path: Path) -> None:
    assert [p.name for p in WORKFLOWS] == ["pve-provision-apply.yml", "pve-provision-drift.yml",
                                           "pve-provision-pr.yml"]
    proc = _check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"  # the validator does reject a workflow with a misspelt key
    broken.write_text((GITHUB / "pve-provision-drift.yml").read_text().replace("runs-on:", "runs_on:"))
    assert _check_jsonschema("vendor.github-workflows", broken).returncode == 1


def test_gitlab_pipeline_matches_the_gitlab_ci_schema(tmp_path: Path) -> None:
    proc = _check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(GITLAB.read_text().replace("when: manual", "when: by_hand"))
    assert _check_jsonschema("vendor.gitlab-ci", broken).returncode == 1


def test_pre_commit_hook_manifest_is_valid_and_validates_stacks(tmp_path: Path) -> None:
    manifest = ROOT / ".pre-commit-hooks.yaml"
    proc = subprocess.run([str(BIN / "pre-commit"), "validate-manifest", str(manifest)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (hook,) = yaml.safe_load(manifest.read_text())
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "stacks" / "lab.yaml", tmp_path / "stacks" / "good.yaml")
    (tmp_path / "stacks" / "bad.yaml").write_text((ROOT / "stacks" / "lab.yaml").read_text()
                                                  .replace("nodeid: 2", "nodeid: two"))
    (tmp_path / "notes.yaml").write_text("not: a stack\n")
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.yaml")
                   if re.search(hook["files"], str(p.relative_to(tmp_path))))
    assert files == ["stacks/bad.yaml", "stacks/good.yaml"]  # the hook's file pattern picks the stacks only

    def hook_run(*names: str) -> subprocess.CompletedProcess[str]:  # as pre-commit calls it: entry args files
        argv = shlex.split(hook["entry"]) + hook.get("args", []) + list(names)
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NO_COLOR": "1"}
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert hook_run("stacks/good.yaml").returncode == 0
    bad = hook_run(*files)
    assert bad.returncode == 1
    assert re.search(r"^stacks/bad\.yaml:\d+:\d+: .*nodeid", bad.stdout + bad.stderr, flags=re.M)


# -- what the workflows promise -------------------------------------------------------
def _steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield name, step


def test_no_expression_is_pasted_into_a_shell_script() -> None:
    # `${{ }}` in `run:` is template injection; values reach scripts through `env:` only.
    for path in WORKFLOWS:
        for job, step in _steps(_load(path)):
            assert "${{" not in step.get("run", ""), f"{path.name} job {job}: {step.get('name')}"


def test_pull_requests_plan_read_only_and_merges_apply_the_saved_plan_behind_a_gate() -> None:
    pr = _load(GITHUB / "pve-provision-pr.yml")
    assert pr["permissions"] == {"contents": "read"}
    plan = pr["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    tokens = {m for _, step in _steps(pr) for v in step.get("env", {}).values()
              for m in re.findall(r"secrets\.(\w+)", str(v))}
    assert tokens == {"PVE_TOKEN_READONLY"}

    merge = _load(GITHUB / "pve-provision-apply.yml")
    assert merge[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as true
    assert merge["concurrency"]["cancel-in-progress"] is False
    apply = merge["jobs"]["apply"]
    assert apply["environment"] == "production" and apply["needs"] == "plan"
    runs = [s for s in apply["steps"] if "run" in s]
    assert runs[-1]["run"].startswith("provision apply plan.json --auto-approve")
    downloaded = next(s for s in apply["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    uploaded = next(s for s in merge["jobs"]["plan"]["steps"]
                    if s.get("uses", "").startswith("actions/upload-artifact"))
    assert downloaded["with"]["name"] == uploaded["with"]["name"] and uploaded["with"]["path"] == "plan.json"


# -- running the steps ----------------------------------------------------------------
@dataclass
class Run:
    """A job's steps run the way the CI service would, in one checkout."""

    workdir: Path
    env: dict[str, str]
    failed: tuple[str, int] | None = None

    def shell(self, script: str, extra: dict[str, str]) -> int:
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
                              cwd=self.workdir, env={**self.env, **extra}, capture_output=True, text=True,
                              timeout=300)
        sys.stderr.write(proc.stdout + proc.stderr)
        return proc.returncode


def _expression(value: Any) -> str:
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: EXPRESSIONS[m.group(1)], str(value))


def run_github_job(path: Path, job_name: str, checkout: Path, env: dict[str, str]) -> Run:
    workflow = _load(path)
    job = workflow["jobs"][job_name]
    run = Run(checkout, {**env, **{k: _expression(v) for k, v in {**workflow.get("env", {}),
                                                                    **job.get("env", {})}.items()}})
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        run.env[key] = str(checkout / f".{key.lower()}")
        Path(run.env[key]).touch()
    for step in job["steps"]:
        if "uses" in step:
            for key in ("path", "sarif_file"):  # what the action would read must be there
                if key in step.get("with", {}) and run.failed is None:
                    assert (checkout / step["with"][key]).is_file(), f"{step['uses']} reads {step['with'][key]}"
            continue
        if step["run"].startswith("pip install") or (run.failed and "always()" not in step.get("if", "")):
            continue
        code = run.shell(step["run"], {k: _expression(v) for k, v in step.get("env", {}).items()})
        if code != 0 and run.failed is None:
            run.failed = (step.get("name", step["run"]), code)
    return run


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A blank lab named `default` (the reference stack's connection) in a private home."""
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "PROVISION_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}", "NO_COLOR": "1"}
    subprocess.run(["provision", "lab", "up", "--blank"], env=env, check=True, capture_output=True, timeout=300)
    try:
        yield env
    finally:
        subprocess.run(["provision", "lab", "down"], env=env, capture_output=True, timeout=300)


def _checkout(tmp_path: Path, stack_text: str | None = None) -> Path:
    """A checkout of a stack repository: the reference stack (or `stack_text`) as stacks/prod.yaml."""
    (tmp_path / "stacks").mkdir(parents=True)
    (tmp_path / "stacks" / "prod.yaml").write_text(stack_text or (ROOT / "stacks" / "lab.yaml").read_text())
    return tmp_path


def test_pr_validate_job_annotates_and_writes_sarif_even_when_the_stack_is_broken(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    good = run_github_job(GITHUB / "pve-provision-pr.yml", "validate",
                          _checkout(tmp_path / "good"), env)
    assert good.failed is None
    sarif = json.loads((good.workdir / "pve-provision.sarif").read_text())
    assert sarif["version"] == "2.1.0"

    broken_text = (ROOT / "stacks" / "lab.yaml").read_text().replace("min_size: 2", "min_size: 1")
    bad = run_github_job(GITHUB / "pve-provision-pr.yml", "validate", _checkout(tmp_path / "bad", broken_text), env)
    assert bad.failed is not None and bad.failed[0] == "Validate (annotations on the changed lines)"
    results = json.loads((bad.workdir / "pve-provision.sarif").read_text())["runs"][0]["results"]
    assert "PVE-CEPH005" in {r["ruleId"] for r in results}  # uploaded although the job failed


@pytest.mark.e2e
def test_pr_plan_job_posts_a_comment_sized_plan_and_keeps_the_plan_file(lab_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    run = run_github_job(GITHUB / "pve-provision-pr.yml", "plan",
                         _checkout(tmp_path), lab_env)
    assert run.failed is None
    comment = (tmp_path / "plan.md").read_text()
    assert comment.startswith("### pve-provision plan for ") and len(comment.encode()) <= 65_536
    assert json.loads((tmp_path / "plan.json").read_text())["stack"] == "stacks/prod.yaml"
    assert "Plan: 54 to add" in comment


@pytest.mark.e2e
def test_merge_plan_job_sets_changes_and_shows_the_plan_to_the_approver(lab_env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    run = run_github_job(GITHUB / "pve-provision-apply.yml", "plan",
                         _checkout(tmp_path), lab_env)
    assert run.failed is None
    assert (tmp_path / ".github_output").read_text() == "changes=true\n"
    assert "<details><summary><b>network</b>" in (tmp_path / ".github_step_summary").read_text()


@pytest.mark.e2e
def test_nightly_drift_job_fails_with_the_report_on_the_summary(lab_env: dict[str, str], tmp_path: Path) -> None:
    run = run_github_job(GITHUB / "pve-provision-drift.yml", "drift",
                         _checkout(tmp_path), lab_env)
    assert run.failed == ("Drift", 2)
    assert "### pve-provision plan for " in (tmp_path / ".github_step_summary").read_text()


@pytest.mark.e2e
def test_gitlab_plan_job_writes_the_note_and_the_apply_switch(lab_env: dict[str, str], tmp_path: Path) -> None:
    pipeline = _load(GITLAB)
    job = pipeline["plan"]
    env = {**lab_env, **{k: str(v) for k, v in pipeline["variables"].items()}, "PVE_TOKEN_READONLY": "x",
           "CI_JOB_URL": "https://gitlab.example/acme/infra/-/jobs/7"}
    run = Run(_checkout(tmp_path), env)
    job_vars = {k: re.sub(r"\$(\w+)", lambda m: env[m.group(1)], v) for k, v in job["variables"].items()}
    assert run.shell("\n".join(job["script"]), job_vars) == 0
    assert (tmp_path / "plan.env").read_text() == "PLAN_CHANGES=true\n"
    note = (tmp_path / "plan.md").read_text()
    assert "Plan: 54 to add" in note and "too long" not in note
    apply = pipeline["apply"]
    assert apply["needs"] == ["plan"] and apply["environment"]["name"] == "production"
    assert apply["rules"][0]["when"] == "manual"
    skipped = run.shell("\n".join(apply["script"]), {"PLAN_CHANGES": "false"})
    assert skipped == 0 and not (tmp_path / "apply.jsonl").exists()
