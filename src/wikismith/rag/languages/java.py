"""Java: the package, classes, interfaces, enums, records and annotation types (nested ones under their class),
methods and constructors, `static final` fields as constants (other fields as names), Javadoc, `extends` and
`implements`, imports (static and wildcard ones as written: `com.x.*`)."""

from __future__ import annotations

import re
from typing import Any

from wikismith.rag.codemap import Import, Symbol
from wikismith.rag.codemap_parse import Extractor, field, first_line, named, strip_generics, text

_TYPES = {
    "class_declaration": "",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
    "record_declaration": "record",
    "annotation_type_declaration": "annotation",
}
_METHODS = ("method_declaration", "constructor_declaration", "compact_constructor_declaration")
_ANNOTATIONS = re.compile(r"^(?:@[\w.]+(?:\([^)]*\))?\s*)+")


class JavaFacts(Extractor):
    patterns = """
(method_invocation name: (identifier) @name)
(object_creation_expression type: (type_identifier) @name)
(field_access object: (this) field: (identifier) @attr)
"""
    comment_types = frozenset({"line_comment", "block_comment"})

    def header(self, node: Any, body: Any) -> str:
        return _ANNOTATIONS.sub("", super().header(node, body))

    def walk(self) -> None:
        for child in self.root.named_children:
            if child.type == "package_declaration" and child.named_child_count:
                self.module = text(child.named_children[0])
                self.module_doc = self.leading_doc(child)
            elif child.type == "import_declaration":
                body = text(child).removeprefix("import").strip().rstrip(";").strip()
                body = "".join(body.removeprefix("static").split())
                self.imports.append(Import(body, (body.rsplit(".", 1)[-1],), first_line(child)))
            elif child.type in _TYPES:
                self.type_(child, None)

    def type_(self, node: Any, parent: Symbol | None) -> None:
        body = field(node, "body")
        symbol = self.add(
            text(field(node, "name")), "class", node, parent=parent, body=body, detail=_TYPES[node.type],
            bases=self.bases(node),
        )  # fmt: skip
        members = named(body)
        for inner in named(body, "enum_body_declarations"):
            members += named(inner)
        for member in members:
            if member.type in _METHODS and field(member, "name") is not None:
                self.add(text(field(member, "name")), "method", member, parent=symbol, body=field(member, "body"))
            elif member.type in _TYPES:
                self.type_(member, symbol)
            elif member.type in ("field_declaration", "constant_declaration"):
                self.field_(member, symbol)
            elif member.type == "enum_constant":
                self.names.add(text(field(member, "name")))

    def field_(self, node: Any, parent: Symbol) -> None:
        modifiers = text(named(node, "modifiers")[0]) if named(node, "modifiers") else ""
        constant = node.type == "constant_declaration" or ("static" in modifiers and "final" in modifiers)
        for declarator in node.children_by_field_name("declarator"):
            name = text(field(declarator, "name"))
            if constant:
                self.add(name, "constant", node, parent=parent, signature=self.header(node, None).rstrip(";"))
            else:
                self.names.add(name)

    @staticmethod
    def bases(node: Any) -> list[str]:
        out: list[str] = []
        for clause in [field(node, "superclass"), field(node, "interfaces"), *named(node, "extends_interfaces")]:
            for item in named(clause):
                items = named(item) if item.type == "type_list" else [item]
                out += [strip_generics(text(i)) for i in items]
        return out
