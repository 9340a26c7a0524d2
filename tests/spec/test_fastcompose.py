"""The libyaml fast path builds exactly the tree ruamel's round-trip loader builds.

Where `compose_fast` takes a text, the data and every key's and item's line and
column must equal ruamel's; where it declines (returns None), ruamel decides. The
texts: every YAML file in the repository (stacks, the hostile-spec corpus, fixtures),
the 32-node bench stack, and generated documents with the scalars YAML 1.1 and 1.2
read differently.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from provision.spec.fastcompose import compose_fast, load_fast
from provision.spec.loader import SpecError, _plain, load_text
from provision.spec.yamlread import stack_yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from big_stack import big_stack  # noqa: E402


def _ruamel(text: str) -> Any:
    try:
        return stack_yaml().load(text)
    except Exception:  # any ruamel refusal: the fast path must have declined too
        return _REFUSED


_REFUSED = object()
# One known difference: an empty value (`key:` or `-` with nothing after it) is marked
# where it is missing by libyaml (after the `:` or `-`), at the start of the next line by
# ruamel. Diagnostics point at keys, and at items by their marks; libyaml's is the line
# the admin wrote.


def _same_tree(fast: Any, slow: Any, where: str = "") -> None:
    assert type(fast) is type(slow) or not isinstance(slow, (CommentedMap, CommentedSeq)), where
    if isinstance(slow, CommentedMap):
        assert list(fast) == list(slow), where
        assert (fast.lc.line, fast.lc.col) == (slow.lc.line, slow.lc.col), where
        for key in slow:
            assert fast.lc.key(key) == slow.lc.key(key), f"{where}.{key} key mark"
            if slow[key] is not None:  # an empty value: see the note above
                assert fast.lc.value(key) == slow.lc.value(key), f"{where}.{key} value mark"
            _same_tree(fast[key], slow[key], f"{where}.{key}")
    elif isinstance(slow, CommentedSeq):
        assert len(fast) == len(slow), where
        for i in range(len(slow)):
            if slow[i] is not None:  # an empty value: see the note above
                assert fast.lc.item(i) == slow.lc.item(i), f"{where}[{i}] mark"
            _same_tree(fast[i], slow[i], f"{where}[{i}]")
    else:
        plain = _plain(slow)
        assert fast == plain and type(fast) is type(plain), f"{where}: {fast!r} != {plain!r}"


def _check(text: str) -> bool:
    """Compare both paths on `text`; True when the fast path took it. The plain data
    (`load_fast`, what a stack without findings is read with) is ruamel's data, with
    the same types, wherever the tree with positions is taken, and declined with it."""
    fast = compose_fast(text)
    slow = _ruamel(text)
    data = load_fast(text)
    if fast is None:
        assert data is None
        return False
    assert slow is not _REFUSED, "the fast path took a text ruamel refuses"
    _same_tree(fast, slow)
    assert data is not None
    _same_data(data, _plain(slow))
    return True


def _same_data(fast: Any, slow: Any, where: str = "") -> None:
    assert type(fast) is type(slow), f"{where}: {type(fast).__name__} != {type(slow).__name__}"
    if isinstance(slow, dict):
        assert list(fast) == list(slow), where
        for key in slow:
            _same_data(fast[key], slow[key], f"{where}.{key}")
    elif isinstance(slow, list):
        assert len(fast) == len(slow), where
        for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
            _same_data(a, b, f"{where}[{i}]")
    else:
        assert fast == slow, f"{where}: {fast!r} != {slow!r}"


def _repo_yaml() -> list[Path]:
    """The repository's YAML files; the walk never enters the skipped trees (a venv holds
    tens of thousands of files)."""
    skip = {".git", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    found: list[Path] = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in skip]
        found.extend(Path(top) / f for f in files if f.endswith(".yaml"))
    return sorted(found)


def test_every_yaml_file_in_the_repository_reads_the_same_both_ways() -> None:
    files = _repo_yaml()
    assert len(files) > 400  # stacks, the corpus, fixtures
    taken = sum(_check(p.read_text(encoding="utf-8", errors="replace")) for p in files)
    assert taken > len(files) // 2  # the fast path is the common path, not a rare one
    assert _check((REPO / "stacks" / "lab.yaml").read_text())


def test_the_32_node_stack_takes_the_fast_path_and_reads_the_same() -> None:
    assert _check(big_stack())


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",  # anchors and aliases
    "a: !!int 3\n",  # explicit tags
    "a: !custom x\n",
    "%YAML 1.1\n---\na: 1\n",  # directives change resolution
    "a: 1\na: 2\n",  # duplicate keys
    "<<: {a: 1}\nb: 2\n",  # merge key
    "? [a, b]\n: 1\n",  # complex key
    "1: one\n",  # non-string key
    "a: 1\n---\nb: 2\n",  # two documents
    "a: [1, 2\n",  # syntax error
    "- a\n- b\n",  # not a mapping
    "",  # empty
    "n: " + "9" * 40 + "\n",  # longer than MAX_NUMBER_DIGITS
    "a: " + "[" * 70 + "]" * 70 + "\n",  # deeper than MAX_DEPTH
])
def test_what_the_fast_path_declines_goes_to_ruamel(text: str) -> None:
    assert compose_fast(text) is None
    assert load_fast(text) is None


def test_errors_still_come_from_ruamel_with_their_positions() -> None:
    with pytest.raises(SpecError) as err:
        load_text("name: x\nname: y\n", "s.yaml")
    assert str(err.value).startswith("s.yaml:2:1: yaml: duplicate key")


# Scalars YAML 1.1 (libyaml's resolver) and 1.2 (ruamel's) read differently, and
# strings that need quoting.
_TRICKY = st.sampled_from([
    "yes", "no", "on", "off", "y", "n", "1:20", "0o17", "017", "0x1F", "0b101", "1_000", "1e3", ".inf",
    "-.inf", ".nan", "~", "null", "Null", "true", "False", "", " lead", "trail ", "a: b", "#c", "- x",
    "[x]", "{x}", "'q'", '"d"', "multi\nline", "tab\there", "ünï", "10.20.30.40/24", "802.3ad", "-1",
    "+1", "3.0", "1.", ".5", "0", "00", "=", "!", "&a", "*a", "%", "@", "`",
])
_SCALAR = st.one_of(_TRICKY, st.integers(-10**12, 10**12), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12))
_KEY = st.one_of(_TRICKY.filter(lambda s: s not in ("<<",)), st.from_regex(r"[a-z_]{1,8}", fullmatch=True))
_DATA = st.recursive(_SCALAR, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(_KEY, children, max_size=4)), max_leaves=25)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.dictionaries(_KEY, _DATA, min_size=1, max_size=5), flow=st.sampled_from([None, False, True]),
       indent=st.sampled_from([(2, 2, 0), (4, 4, 2), (2, 4, 2)]))
def test_generated_documents_read_the_same_both_ways(data: dict[str, Any], flow: bool | None,
                                                      indent: tuple[int, int, int]) -> None:
    y = YAML(typ="rt")
    y.default_flow_style = flow
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    buf = io.StringIO()
    y.dump(data, buf)
    _check(buf.getvalue())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(alphabet="0123456789._-+:eExXoObBadftTzZnNul/ G~", max_size=14),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,4}(/[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(["true", "True", "TRUE", "tRue", "null", "Null", "NULL", "n", "N", "no", "yes", "on",
                     "0", "00", "0755", "0o17", "0x1F", "1_000", "1e3", "1.5", ".5", "1:20", "2024-01-02",
                     "10.0.0.1", "10.0.0.0/24", "9000", "nic", "vm:100", "4.2.0", "802.3ad", "0xad", "1ad", "2e5"]),
))
def test_plain_scalars_without_ruamel_resolve_as_ruamel_does(value: str) -> None:
    """The scalars the fast path resolves itself (`_simple`: no ruamel) read exactly as
    ruamel's loader reads them, in a document, as libyaml hands them over."""
    text = f"k: {value}\n"
    fast = load_fast(text)
    slow = _ruamel(text)
    if fast is None:
        return  # declined: ruamel decides, as for any other text
    assert slow is not _REFUSED
    theirs = _plain(slow)["k"]
    assert type(fast["k"]) is type(theirs) and fast["k"] == theirs, (value, fast["k"], theirs)


def test_a_plain_stack_loads_without_importing_ruamel() -> None:
    """The stacks of this repository and the 32-node bench stack load on libyaml alone."""
    import subprocess

    code = ("import sys\nfrom pathlib import Path\nfrom provision.spec import load_stack\n"
            "load_stack(Path(sys.argv[1]))\nprint('ruamel' in ' '.join(sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(REPO / "stacks" / "lab.yaml")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-2000:]
