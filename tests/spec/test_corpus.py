"""The broken-spec corpus: every file in tests/spec/corpus/ is refused with its expected
message on its expected line, and nothing but a SpecError ever comes out.

The files and `expected.json` are written by scripts/make_spec_corpus.py from
deliberate defects in tests/spec/corpus_base.yaml, which itself must load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.spec import SpecError, load_stack

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
EXPECTED: dict[str, dict[str, object]] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _no_secrets_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVISION_SECRETS_DIR", raising=False)


def test_the_base_stack_is_valid() -> None:
    assert load_stack(HERE / "corpus_base.yaml").cluster.name == "corpus"


def test_every_file_has_an_expectation() -> None:
    files = {p.name for p in CORPUS.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 300


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_spec(name: str) -> None:
    want = EXPECTED[name]
    path = CORPUS / name
    with pytest.raises(SpecError) as exc:
        load_stack(path)
    found = [(d.line, d.message) for d in exc.value.diagnostics]
    assert any(line == want["line"] and str(want["message"]) in message for line, message in found), (
        f"expected line {want['line']}: {want['message']!r}; got {found}")
    for diagnostic in exc.value.diagnostics:
        assert diagnostic.file == str(path)
        assert "\n" not in str(diagnostic), "every diagnostic is one line"
