"""Mermaid diagrams derived from the code map, and model-written diagrams checked against it.

Derived diagrams (each checked by `mermaid.check_diagram`, the checker the syntax repair uses, and marked with
`DERIVED` inside the block and a caption above it): `module_graph` (imports among a page's files and their
neighbours), `class_diagram` (the page's classes, their main methods and their bases), `call_flow` (calls from
the page's entry point, two levels deep; best effort, as the code map's references are).

`ground_diagram(code, codemap, resolver)`: a model's flowchart, class or sequence diagram stays only if each of
its nodes names a real file, module or symbol; a node with exactly one real counterpart is renamed to it; a
diagram with a node that names nothing real is to be replaced (the caller puts a derived one of the same kind
in its place, or removes it). Other diagram kinds (pie, gantt, state, …) are not about code and stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wikismith.rag.codemap import CodeMap, Symbol
from wikismith.rag.identifiers import Resolver
from wikismith.wiki import mermaid
from wikismith.wiki.structure import match_path

DERIVED = "%% derived from the code map"
MAX_NODES = 14
MAX_METHODS = 6
_OPEN = r"\(\(|\[\[|\[\(|\(\[|\{\{|\[/|\[\\|\[|\(|\{|>"
_CLOSE = r"\)\)|\]\]|\)\]|\]\)|\}\}|/\]|\\\]|\]|\)|\}"
_SHAPE = re.compile(
    rf"(?P<id>[A-Za-z_][\w-]*)\s*(?:{_OPEN})\s*(?:\"(?P<quoted>[^\"]*)\"|(?P<label>[^\]\)}}\"]*?))\s*(?:{_CLOSE})"
)
_EDGE = re.compile(r"\s*(?:<?[-=.]+[->xo]?|--[-x>o]|==>|-\.->)\s*(?:\|[^|]*\|)?\s*")
_CLASS_REL = re.compile(
    r"^\s*([\w.]+)\s*(?:\"[^\"]*\"\s*)?(?:<\|--|--\|>|\*--|--\*|o--|--o|-->|<--|\.\.>|<\.\.|\.\.\|>|<\|\.\.|--|\.\.)\s*(?:\"[^\"]*\"\s*)?([\w.]+)"
)
_CLASS_DECL = re.compile(r"^\s*class\s+([\w.]+)")
_PARTICIPANT = re.compile(r"^\s*(?:participant|actor)\s+(\S+)(?:\s+as\s+(.+))?$")
_MESSAGE = re.compile(r"^\s*([^\s:>-]+)\s*-[-]?[>x)]{1,2}[+-]?\s*([^\s:]+)\s*:")
_KEYWORDS = {"end", "subgraph", "direction", "classDef", "class", "style", "linkStyle", "click", "note"}


def _node_id(index: int) -> str:
    return f"n{index}"


def _label(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _class_name(symbol: Symbol) -> str:
    return re.sub(r"\W", "_", symbol.qualname)


def module_graph(codemap: CodeMap, paths: Sequence[str]) -> str | None:
    """`graph LR` of the imports among `paths` and the repository files they import or are imported by."""
    inside = [p for p in paths if p in codemap.files]
    nodes = list(inside)
    edges: list[tuple[str, str]] = []
    for path in inside:
        for target in codemap.imports_of(path):
            edges.append((path, target))
        for source in codemap.importers_of(path):
            edges.append((source, path))
    for a, b in edges:
        for p in (a, b):
            if p not in nodes and len(nodes) < MAX_NODES:
                nodes.append(p)
    edges = list(dict.fromkeys((a, b) for a, b in edges if a in nodes and b in nodes and a != b))
    if not edges:
        return None
    ids = {p: _node_id(i) for i, p in enumerate(nodes)}
    lines = ["graph LR", f"    {DERIVED}: module dependencies"]
    lines += [f"    {ids[p]}[{_label(p)}]" for p in nodes]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in edges]
    return "\n".join(lines)


def class_diagram(codemap: CodeMap, paths: Sequence[str], limit: int = 8) -> str | None:
    """`classDiagram` of the classes of `paths` (their public methods) and their bases in the repository."""
    classes = [s for p in paths for s in codemap.symbols_in(p) if s.kind == "class"][:limit]
    if not classes:
        return None
    lines = ["classDiagram", f"    {DERIVED}: classes"]
    related: list[str] = []
    shown: dict[str, Symbol] = {c.id: c for c in classes}
    for cls in classes:
        for base in codemap.bases_of(cls):
            shown.setdefault(base.id, base)
            related.append(f"    {_class_name(base)} <|-- {_class_name(cls)}")
    has_members = False
    for cls in shown.values():
        methods = [
            s for s in codemap.symbols_in(cls.path)
            if s.kind == "method" and s.parent == cls.qualname and not s.name.startswith("_")
        ][:MAX_METHODS]  # fmt: skip
        has_members = has_members or bool(methods)
        if methods:
            lines.append(f"    class {_class_name(cls)} {{")
            lines += [f"        +{m.name}()" for m in methods]
            lines.append("    }")
        else:
            lines.append(f"    class {_class_name(cls)}")
    if not related and not has_members:
        return None
    return "\n".join(lines + related)


def entry_point(codemap: CodeMap, paths: Sequence[str]) -> Symbol | None:
    """The function or method of `paths` that calls most of the repository (a `main` first)."""
    candidates = [s for p in paths for s in codemap.symbols_in(p) if s.kind in ("function", "method")]
    scored = [(s.name in ("main", "run", "cli", "app"), len(codemap.references_from(s)), s) for s in candidates]
    scored = [t for t in scored if t[1]]
    return max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None


def call_flow(codemap: CodeMap, paths: Sequence[str], depth: int = 2) -> str | None:
    """`graph TD` of the calls from the page's entry point, `depth` levels deep (best effort)."""
    start = entry_point(codemap, paths)
    if start is None:
        return None
    nodes: list[Symbol] = [start]
    edges: list[tuple[int, int]] = []
    frontier = [start]
    for _ in range(depth):
        following: list[Symbol] = []
        for caller in frontier:
            for callee in codemap.references_from(caller):
                if callee not in nodes:
                    if len(nodes) >= MAX_NODES:
                        continue
                    nodes.append(callee)
                    following.append(callee)
                edges.append((nodes.index(caller), nodes.index(callee)))
        frontier = following
    if not edges:
        return None
    lines = ["graph TD", f"    {DERIVED}: calls from {start.qualname}"]
    lines += [
        f"    {_node_id(i)}[{_label(s.qualname + '()' if s.kind != 'class' else s.qualname)}]"
        for i, s in enumerate(nodes)
    ]
    lines += [f"    {_node_id(a)} --> {_node_id(b)}" for a, b in dict.fromkeys(edges)]
    return "\n".join(lines)


def derived_diagrams(codemap: CodeMap, paths: Sequence[str]) -> list[tuple[str, str]]:
    """(caption, code) of each derived diagram the page's files give, every one valid Mermaid."""
    made = [
        ("Module dependencies of this page's files", module_graph(codemap, paths)),
        ("Classes of this page's files, their main methods and bases", class_diagram(codemap, paths)),
        ("Calls from the page's entry point, best effort", call_flow(codemap, paths)),
    ]
    return [(caption, code) for caption, code in made if code is not None and not mermaid.check_diagram(code)]


def derived_block(caption: str, code: str) -> str:
    return f"*{caption} (derived from the code map).*\n\n```mermaid\n{code}\n```"


# --- model-written diagrams ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiagramCheck:
    kind: str  # the diagram type word
    code: str  # the code with unambiguous names repaired
    unresolved: tuple[str, ...]  # node names that name nothing real
    repaired: int = 0
    checked: bool = True  # False for diagram kinds that are not about code


def diagram_names(code: str) -> tuple[str, list[tuple[str, str]]]:
    """The diagram type and its nodes as (id, label) pairs (label "" when the node has none)."""
    lines = [line.split("%%", 1)[0].rstrip() for line in code.split("\n")]
    lines = [line for line in lines if line.strip()]
    kind = lines[0].split()[0] if lines else ""
    nodes: dict[str, str] = {}
    for line in lines[1:]:
        if kind in ("graph", "flowchart"):
            _flow_nodes(line, nodes)
        elif kind == "classDiagram":
            for pattern in (_CLASS_DECL, _CLASS_REL):
                match = pattern.match(line)
                if match:
                    for name in match.groups():
                        nodes.setdefault(name, "")
        elif kind == "sequenceDiagram":
            participant, message = _PARTICIPANT.match(line), _MESSAGE.match(line)
            if participant:
                nodes[participant.group(1)] = (participant.group(2) or "").strip()
            elif message:
                for name in message.groups():
                    nodes.setdefault(name, "")
    return kind, list(nodes.items())


def _flow_nodes(line: str, nodes: dict[str, str]) -> None:
    stripped = line.strip()
    if not stripped or stripped.split()[0] in _KEYWORDS:
        return
    for match in _SHAPE.finditer(line):
        nodes[match.group("id")] = (match.group("quoted") or match.group("label") or "").strip()
    bare = _SHAPE.sub(lambda m: m.group("id"), line)
    for token in _EDGE.split(bare):
        token = token.strip().rstrip(";")
        if re.fullmatch(r"[A-Za-z_][\w-]*", token) and token not in _KEYWORDS:
            nodes.setdefault(token, "")


def _normal(name: str) -> str:
    name = re.sub(r"<[^>]+>|[`*\"']", "", name).strip()
    name = re.sub(r"\s+(class|module|function|method)$|^(class|module|function|method)\s+", "", name)
    return re.sub(r"\(.*\)$", "", name).strip()


def names_real(name: str, codemap: CodeMap, resolver: Resolver) -> bool:
    """A file, module or symbol of the repository (no prose, no words merely used)."""
    name = _normal(name)
    if not name:
        return False
    if match_path(name, resolver.files) is not None:
        return True
    dotted = name.replace("::", ".")
    if codemap.lookup(dotted):
        return True
    owner, _, member = dotted.rpartition(".")
    return bool(owner) and any(
        s.qualname == f"{o.qualname}.{member}"
        for o in codemap.lookup(owner)
        if o.kind == "class"
        for s in codemap.symbols_in(o.path)
    )


def ground_diagram(code: str, codemap: CodeMap, resolver: Resolver) -> DiagramCheck:
    kind, nodes = diagram_names(code)
    if kind not in ("graph", "flowchart", "classDiagram", "sequenceDiagram"):
        return DiagramCheck(kind, code, (), checked=False)
    unresolved: list[str] = []
    repaired = 0
    for node_id, label in nodes:
        if names_real(label, codemap, resolver) or names_real(node_id, codemap, resolver):
            continue
        name = _normal(label or node_id)
        fix = resolver.rewrite(name.replace("::", "."), modules=True)
        if fix and names_real(fix, codemap, resolver):
            old = label or node_id
            code = code.replace(old, _normal(fix) if label else re.sub(r"\W", "_", fix))
            repaired += 1
        else:
            unresolved.append(label or node_id)
    return DiagramCheck(kind, code, tuple(unresolved), repaired)


def replacement_for(kind: str, codemap: CodeMap, paths: Sequence[str]) -> tuple[str, str] | None:
    """The derived diagram that takes the place of a model's `kind` of diagram that named nothing real."""
    makers: dict[str, Callable[[CodeMap, Sequence[str]], str | None]] = {
        "Module dependencies": module_graph,
        "Classes": class_diagram,
        "Calls, best effort": call_flow,
    }
    first = {"classDiagram": "Classes", "sequenceDiagram": "Calls, best effort"}.get(kind, "Module dependencies")
    for caption in (first, *(c for c in makers if c != first)):
        code = makers[caption](codemap, paths)
        if code is not None and not mermaid.check_diagram(code):
            return caption, code
    return None
