"""docs/spec.md is generated from the models and the reference stacks; it must match them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provision.spec import doc

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def examples() -> doc.Examples:
    return doc.collect_examples(ROOT)


def test_docs_spec_md_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "spec.md"
    subprocess.run([sys.executable, "-m", "provision.spec.doc", str(out)], cwd=ROOT, check=True)
    committed = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, f"regenerate: {doc.COMMAND}"


def test_every_key_has_a_description_and_an_example(examples: doc.Examples) -> None:
    assert doc.missing_descriptions() == [], "add description= to these fields"
    assert doc.missing_examples(examples) == [], "use these keys in docs/examples/every-key-*.yaml"


def test_every_model_and_key_has_a_row() -> None:
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    for section in doc.sections():
        _, _, body = text.partition(f"\n## {section.model.__name__}\n")
        assert body, section.model.__name__
        table = body.split("\n## ", 1)[0]
        for name in section.model.model_fields:
            assert f"\n| `{name}` |" in table, f"{section.model.__name__}.{name}"


def test_examples_read_back_as_the_stack_values(examples: doc.Examples) -> None:
    # The page shows examples as YAML flow text; a reader copying one must get the value
    # the reference stack holds (strings like "on", "vm:100" or "1.0" stay strings).
    for (model, key), value in examples.items():
        assert yaml.safe_load(f"v: {doc.flow_yaml(value)}")["v"] == value, f"{model}.{key}"


@pytest.mark.parametrize("text", ["on", "off", "yes", "no", "null", "~", "1.5", "0x1f", "010", "1_000", "vm:100",
                                  "fe80::1", "a: b", "#x", "[a]", "-", "keep-daily=7,keep-weekly=4", "", " x"])
def test_flow_yaml_keeps_strings_strings(text: str) -> None:
    assert yaml.safe_load(f"v: {doc.flow_yaml(text)}")["v"] == text
    assert yaml.safe_load(f"v: {doc.flow_yaml([text, {text: text}])}")["v"] == [text, {text: text}]
