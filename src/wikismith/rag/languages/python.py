"""Python: classes, functions and methods (decorated ones included), module-level assignments as constants,
docstrings, bases, `import`/`from … import` (relative ones as written: `..pkg.mod`), `self.x` attributes."""

from __future__ import annotations

from typing import Any

from wikismith.rag.codemap import Import, Symbol
from wikismith.rag.codemap_parse import Extractor, clean_doc, field, first_line, named, text

_NESTED_BLOCKS = ("if_statement", "try_statement", "with_statement")


def docstring(body: Any) -> str:
    """The docstring of a module or a block: its first statement when that is a plain string."""
    first = body.named_children[0] if body is not None and body.named_child_count else None
    if first is None or first.type != "expression_statement" or not first.named_child_count:
        return ""
    string = first.named_children[0]
    if string.type != "string":
        return ""
    content = "".join(text(c) for c in named(string, "string_content"))
    return clean_doc(content)


class PythonFacts(Extractor):
    patterns = """
(call function: [(identifier) @name (attribute attribute: (identifier) @name)])
((assignment left: (attribute object: (identifier) @_obj attribute: (identifier) @attr))
 (#any-of? @_obj "self" "cls"))
[(import_statement) (import_from_statement)] @import
"""

    def walk(self) -> None:
        self.module_doc = docstring(self.root)
        self.block(self.root, None)
        for node in self.found.get("import", ()):  # in functions too
            self.import_(node)

    def block(self, block: Any, parent: Symbol | None) -> None:
        for child in block.named_children:
            node = field(child, "definition") if child.type == "decorated_definition" else child
            if node is None:
                continue
            if node.type == "class_definition":
                self.class_(node, child, parent)
            elif node.type == "function_definition":
                self.function(node, child, parent)
            elif node.type in ("expression_statement", "type_alias_statement"):
                self.assignment(node, parent)
            elif node.type in _NESTED_BLOCKS:
                for sub in node.named_children:
                    for inner in [sub] if sub.type == "block" else named(sub, "block"):
                        self.block(inner, parent)

    def class_(self, node: Any, outer: Any, parent: Symbol | None) -> None:
        body = field(node, "body")
        bases = [text(b) for b in named(field(node, "superclasses")) if b.type != "keyword_argument"]
        symbol = self.add(
            text(field(node, "name")), "class", node, parent=parent, outer=outer, body=body,
            doc=docstring(body), bases=bases,
        )  # fmt: skip
        if body is not None:
            self.block(body, symbol)

    def function(self, node: Any, outer: Any, parent: Symbol | None) -> None:
        body = field(node, "body")
        kind = "method" if parent is not None and parent.kind == "class" else "function"
        self.add(text(field(node, "name")), kind, node, parent=parent, outer=outer, body=body, doc=docstring(body))

    def assignment(self, node: Any, parent: Symbol | None) -> None:
        inner = node if node.type == "type_alias_statement" else (node.named_children or [None])[0]
        if inner is None or inner.type not in ("assignment", "type_alias_statement"):
            return
        left = field(inner, "left")
        targets = [left] if left is not None and left.type in ("identifier", "type") else named(left, "identifier")
        for target in targets:
            name = text(target)
            if parent is not None:
                self.names.add(name)
            elif name.isidentifier():
                self.add(name, "constant", node, signature=text(node).split("\n", 1)[0][:120])

    def import_(self, node: Any) -> None:
        line = first_line(node)
        if node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                target = field(name, "name") if name.type == "aliased_import" else name
                self.imports.append(Import(text(target), (), line))
            return
        module = text(field(node, "module_name"))
        names = [
            text(field(n, "name") if n.type == "aliased_import" else n) for n in node.children_by_field_name("name")
        ]
        if named(node, "wildcard_import"):
            names.append("*")
        self.imports.append(Import(module, tuple(names), line))
