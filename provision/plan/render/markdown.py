"""Markdown view for a pull-request comment.

A summary table, then one `<details>` section per phase with its actions and the
field changes they carry, then unmanaged objects and notes. Everything is sorted
and nothing time-dependent is printed, so two runs over the same inputs give
byte-identical comments (CI can update a comment only when the plan changed).
A plan too long for one comment is cut to fit (`fit`) and says where the whole plan is.
"""

from __future__ import annotations

import re
from typing import Any

from provision.plan.render.fit import DEFAULT_LIMIT, Block, fit
from provision.plan.render.text import (
    SYMBOL,
    attribute_rows,
    bootstrap_line,
    fmt_value,
    impact_summary,
    impact_text,
    summary_line,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(lines: list[str]) -> str:
    """A code fence longer than any backtick run in the lines (a comment in a file could
    hold backticks and must not end the block)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


_MAX_LISTED_DESTRUCTIVE = 20


def render_markdown(document: dict[str, Any], *, limit: int | None = DEFAULT_LIMIT,
                    full_plan: str | None = None, full_plan_url: str | None = None) -> str:
    """The plan as a pull-request comment of at most `limit` UTF-8 bytes (None: no limit).

    A plan too long for that is cut at whole lines and says so after the summary,
    pointing at the full plan: the plan file `full_plan` (shown with `provision show`)
    and, when given, the link `full_plan_url` (e.g. the CI run's artifact)."""
    head, blocks, foot = _parts(document)
    if limit is None:
        return "\n".join([*head, *(ln for b in blocks for ln in (*b.head, *b.items, *b.tail)), *foot]) + "\n"
    lines = fit(head, blocks, foot, limit, _too_long(document, limit, full_plan, full_plan_url))
    return "\n".join(lines) + "\n"


def _too_long(document: dict[str, Any], limit: int, full_plan: str | None, url: str | None) -> list[str]:
    where = []
    if full_plan:
        where.append(f"the plan file `{_code(full_plan)}` (`provision show {_code(full_plan)}`)")
    if url:
        where.append(f"[the full plan]({url})")
    if not where:
        stack = document.get("stack") or "STACK"
        where.append(f"`provision plan {_code(stack)}`")
    return [f"> **This plan is too long for one comment** (the limit is {limit} bytes), so sections are cut "
            f"below. Review the whole plan in {' or '.join(where)}.", ""]


def _code(text: str) -> str:
    return text.replace("`", "'")


def _parts(document: dict[str, Any]) -> tuple[list[str], list[Block], list[str]]:
    """The comment as a fixed head, the sections that may be cut, and a fixed foot."""
    c = document.get("cluster", {})
    s = document.get("summary", {})
    lines: list[str] = []
    title = c.get("name") or f"{c.get('stack_name')} (new)"
    lines.append(f"### pve-provision plan for `{title}`")
    lines.append("")
    if document.get("stack"):
        lines.append(f"Stack: `{document['stack']}`  ")
    lines.append(f"Spec digest: `{document.get('spec_digest', '')}`  ")
    lines.append(f"Observed: `{document.get('observed_fingerprint', '')}`")
    own = bootstrap_line(document)
    if own:
        lines[-1] += "  "
        lines.append(own)
    lines.append("")
    lines.append("| add | change | destroy | unmanaged | actions |")
    lines.append("| ---: | ---: | ---: | ---: | ---: |")
    lines.append(f"| {s.get('add', 0)} | {s.get('change', 0)} | {s.get('destroy', 0)} | {s.get('unmanaged', 0)} "
                 f"| {len(document.get('actions', []))} |")
    lines.append("")
    destructive = [a for a in document.get("actions", []) if a.get("destructive")]
    if destructive:
        listed = ", ".join(f"`{a['id']}`" for a in destructive[:_MAX_LISTED_DESTRUCTIVE])
        more = len(destructive) - _MAX_LISTED_DESTRUCTIVE
        lines.append(f"> **Warning:** {len(destructive)} destructive action(s): " + listed
                     + (f" and {more} more (marked in the phases below)" if more > 0 else ""))
        lines.append("")
    impact = impact_summary(document)
    if impact:
        lines.append(f"> **{impact}**")
        lines.append("")
    blocks = [*_phase_blocks(document), *_file_blocks(document)]
    unmanaged = document.get("unmanaged", [])
    if unmanaged:
        blocks.append(Block(
            f"**unmanaged** ({len(unmanaged)})",
            [f"<details><summary><b>unmanaged</b> ({len(unmanaged)})</summary>", ""],
            [f"- `{ch['address']}` — {ch.get('reason', '')}" for ch in unmanaged],
            ["", "</details>", ""]))
    notes = document.get("notes", [])
    if notes:
        blocks.append(Block(f"**notes** ({len(notes)})", ["**Notes**", ""], [f"- {n}" for n in notes], [""]))
    return lines, blocks, [f"**{summary_line(document)}**"]


def _phase_blocks(document: dict[str, Any]) -> list[Block]:
    changes = {ch["address"]: ch for ch in document.get("changes", [])}
    by_id = {a["id"]: a for a in document.get("actions", [])}
    blocks = []
    for phase in document.get("phases", []):
        ids = phase["actions"]
        rows: list[str] = []
        details: list[str] = []
        for aid in ids:
            a = by_id[aid]
            flags = ", ".join(f for f, on in (("serial", a.get("serial")), ("**destructive**", a.get("destructive")))
                              if on)
            rows.append(f"| {a['step']} | `{a['kind']}` | {a.get('node') or '(any)'} | `{_cell(a['address'])}` "
                        f"| {flags} |")
            for addr in a.get("changes", []):
                ch = changes.get(addr)
                if ch is None:
                    continue
                sym = SYMBOL[ch["action"]][0]
                details.append(f"- `{sym}` `{addr}`" + (f" — {ch['reason']}" if ch.get("reason") else ""))
                details += [f"  - `{key}` = `{fmt_value(value)}`" for key, value in attribute_rows(ch)]
                details += [f"  - **guest impact:** {impact_text(item)}" for item in ch.get("guest_impact") or []]
                for fd in ch.get("field_diffs", []):
                    details.append(f"  - `{fd['path']}`: `{fmt_value(fd['old'])}` → `{fmt_value(fd['new'])}`")
        head = [f"<details><summary><b>{phase['name']}</b> ({len(ids)} action(s))</summary>", "",
                "| # | action | node | address | flags |", "| ---: | --- | --- | --- | --- |"]
        items = [*rows, "", *details] if details else rows
        blocks.append(Block(f"**{phase['name']}** ({len(ids)} action(s))", head, items, ["", "</details>", ""],
                            rows=len(rows)))
    return blocks


def _file_blocks(document: dict[str, Any]) -> list[Block]:
    blocks = []
    for f in document.get("files", []):
        fence = _fence(f["diff"])
        blocks.append(Block(
            f"**{f['path']}** on {f['node']}",
            [f"<details open><summary><b>{f['path']}</b> on {f['node']}</summary>", "", f"{fence}diff"],
            list(f["diff"]),
            [fence, "", "</details>", ""]))
    return blocks
