"""Go: the package name, functions, methods (their receiver's type as parent), struct and interface types
(embedded types as bases, fields as names, interface methods as methods), constants, doc comments, imports."""

from __future__ import annotations

from typing import Any

from wikismith.rag.codemap import Import
from wikismith.rag.codemap_parse import Extractor, field, first_line, named, strip_generics, text


class GoFacts(Extractor):
    patterns = """
(call_expression function: [(identifier) @name (selector_expression field: (field_identifier) @name)])
(composite_literal type: (type_identifier) @name)
(field_declaration name: (field_identifier) @attr)
(import_spec) @spec
"""

    def walk(self) -> None:
        for child in self.root.named_children:
            kind = child.type
            if kind == "package_clause":
                self.module = text(child.named_children[0]) if child.named_child_count else ""
                self.module_doc = self.leading_doc(child)
            elif kind == "function_declaration":
                self.add(text(field(child, "name")), "function", child, body=field(child, "body"))
            elif kind == "method_declaration":
                self.method(child)
            elif kind == "type_declaration":
                for spec in named(child, "type_spec", "type_alias"):
                    self.type_(spec, child)
            elif kind == "const_declaration":
                for spec in named(child, "const_spec"):
                    for name in (n for n in spec.children_by_field_name("name") if n.is_named):
                        signature = text(spec).split("\n", 1)[0][:120]
                        outer = child if len(named(child, "const_spec")) == 1 else spec
                        self.add(text(name), "constant", spec, outer=outer, signature=signature)
        for spec in self.found.get("spec", ()):
            alias = field(spec, "name")
            path = text(field(spec, "path")).strip('"`')
            self.imports.append(Import(path, (text(alias),) if alias is not None else (), first_line(spec)))
        self.imports.sort(key=lambda i: i.line)

    def method(self, node: Any) -> None:
        receiver = named(field(node, "receiver"), "parameter_declaration")
        owner = strip_generics(text(field(receiver[0], "type"))) if receiver else ""
        self.add(text(field(node, "name")), "method", node, parent=owner or None, body=field(node, "body"))

    def type_(self, spec: Any, declaration: Any) -> None:
        value = field(spec, "type")
        outer = declaration if len(named(declaration, "type_spec", "type_alias")) == 1 else spec
        detail = {"struct_type": "struct", "interface_type": "interface"}.get(value.type if value else "", "type")
        bases: list[str] = []
        if value is not None and value.type == "struct_type":
            for decl in named(named(value, "field_declaration_list")[0] if value.named_child_count else None):
                if decl.type == "field_declaration" and field(decl, "name") is None:
                    bases.append(strip_generics(text(field(decl, "type"))))
        elif value is not None and value.type == "interface_type":
            bases = [strip_generics(text(e)) for e in named(value, "type_elem")]
        symbol = self.add(text(field(spec, "name")), "class", spec, outer=outer, body=value, detail=detail, bases=bases)
        if value is not None and value.type == "interface_type":
            for elem in named(value, "method_elem"):
                self.add(text(field(elem, "name")), "method", elem, parent=symbol)
