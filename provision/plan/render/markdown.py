"""Markdown view for a pull-request comment.

A summary table, then one `<details>` section per phase with its actions and the
field changes they carry, then unmanaged objects and notes. Everything is sorted
and nothing time-dependent is printed, so two runs over the same inputs give
byte-identical comments (CI can update a comment only when the plan changed).
"""

from __future__ import annotations

import re
from typing import Any

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


def render_markdown(document: dict[str, Any]) -> str:
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
        lines.append(f"> **Warning:** {len(destructive)} destructive action(s): "
                     + ", ".join(f"`{a['id']}`" for a in destructive))
        lines.append("")
    impact = impact_summary(document)
    if impact:
        lines.append(f"> **{impact}**")
        lines.append("")
    changes = {ch["address"]: ch for ch in document.get("changes", [])}
    by_id = {a["id"]: a for a in document.get("actions", [])}
    for phase in document.get("phases", []):
        ids = phase["actions"]
        lines.append(f"<details><summary><b>{phase['name']}</b> ({len(ids)} action(s))</summary>")
        lines.append("")
        lines.append("| # | action | node | address | flags |")
        lines.append("| ---: | --- | --- | --- | --- |")
        details: list[str] = []
        for aid in ids:
            a = by_id[aid]
            flags = ", ".join(f for f, on in (("serial", a.get("serial")), ("**destructive**", a.get("destructive")))
                              if on)
            lines.append(f"| {a['step']} | `{a['kind']}` | {a.get('node') or '(any)'} | `{_cell(a['address'])}` "
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
        if details:
            lines.append("")
            lines.extend(details)
        lines.append("")
        lines.append("</details>")
        lines.append("")
    for f in document.get("files", []):
        lines.append(f"<details open><summary><b>{f['path']}</b> on {f['node']}</summary>")
        lines.append("")
        fence = _fence(f["diff"])
        lines.append(f"{fence}diff")
        lines.extend(f["diff"])
        lines.append(fence)
        lines.append("")
        lines.append("</details>")
        lines.append("")
    unmanaged = document.get("unmanaged", [])
    if unmanaged:
        lines.append(f"<details><summary><b>unmanaged</b> ({len(unmanaged)})</summary>")
        lines.append("")
        for ch in unmanaged:
            lines.append(f"- `{ch['address']}` — {ch.get('reason', '')}")
        lines.append("")
        lines.append("</details>")
        lines.append("")
    notes = document.get("notes", [])
    if notes:
        lines.append("**Notes**")
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
        lines.append("")
    lines.append(f"**{summary_line(document)}**")
    return "\n".join(lines) + "\n"
