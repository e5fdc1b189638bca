"""Plans as text, mermaid or dot: one renderer for any tree or graph of labelled nodes.

Callers describe their plan as nodes (id -> label) and edges (from -> to, data flowing from
the first to the second); `render` returns a string, so golden tests are plain comparisons.
"""

from __future__ import annotations

FORMATS = ("text", "mermaid", "dot")


def render_graph(nodes: dict[str, str], edges: list[tuple[str, str]], fmt: str,
                 title: str = "") -> str:
    """`nodes` in display order; mermaid and dot only (text is the caller's own layout)."""
    if fmt == "mermaid":
        lines = ["flowchart TD"]
        lines += [f'    {node}["{_mermaid_escape(label)}"]' for node, label in nodes.items()]
        lines += [f"    {a} --> {b}" for a, b in edges]
        return "\n".join(lines) + "\n"
    if fmt == "dot":
        name = _dot_escape(title or "plan")
        lines = [f'digraph "{name}" {{', "    rankdir=TB;", "    node [shape=box];"]
        lines += [f'    {node} [label="{_dot_escape(label)}"];' for node, label in nodes.items()]
        lines += [f"    {a} -> {b};" for a, b in edges]
        return "\n".join(lines) + "\n}\n"
    raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


def _mermaid_escape(label: str) -> str:
    # mermaid labels are HTML-ish: quotes and angle brackets as entities
    return (label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _dot_escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"')
