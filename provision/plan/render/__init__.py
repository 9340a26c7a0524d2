"""Views of the plan document: text (terminal), Markdown (PR comment), JSON.

Every renderer takes the JSON-able plan document, never internal objects, so
`provision show plan.json` renders exactly what `provision plan` printed.
"""

from provision.plan.render.json import render_json
from provision.plan.render.markdown import render_markdown
from provision.plan.render.text import render_text, summary_line

__all__ = ["render_json", "render_markdown", "render_text", "summary_line"]
