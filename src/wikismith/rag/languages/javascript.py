"""JavaScript, TypeScript and TSX: functions, classes (abstract too), interfaces, enums, type aliases, functions
and classes bound to `const`/`let`/`var`, methods, `export` wrappers, JSDoc comments, `extends`/`implements`,
`import … from`, `export … from`, `require()` and `import()` of string literals, fields and `this.x`."""

from __future__ import annotations

from typing import Any

from wikismith.rag.codemap import Import, Symbol
from wikismith.rag.codemap_parse import Extractor, field, first_line, named, strip_generics, text

_CLASSES = {
    "class_declaration": "",
    "class": "",
    "abstract_class_declaration": "abstract class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
}
_FUNCTIONS = ("function_declaration", "generator_function_declaration", "function_signature")
_FUNCTION_VALUES = ("arrow_function", "function_expression", "function", "generator_function")
_METHODS = ("method_definition", "method_signature", "abstract_method_signature")
_FIELDS = ("public_field_definition", "field_definition", "property_signature")


class ScriptFacts(Extractor):
    patterns = """
(call_expression function: [(identifier) @name (member_expression property: (property_identifier) @name)])
(new_expression constructor: [(identifier) @name (member_expression property: (property_identifier) @name)])
(assignment_expression left: (member_expression object: (this) property: (property_identifier) @attr))
(import_statement source: (string (string_fragment) @source))
(export_statement source: (string (string_fragment) @source))
((call_expression function: (identifier) @_fn arguments: (arguments . (string (string_fragment) @source)))
 (#eq? @_fn "require"))
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @source)))
"""

    def walk(self) -> None:
        self.module = self.path.rsplit(".", 1)[0]
        for child in self.root.named_children:
            self.statement(child, child, None)
        self.find_imports()

    def statement(self, node: Any, outer: Any, parent: Symbol | None) -> None:
        kind = node.type
        if kind == "export_statement":
            inner = field(node, "declaration") or field(node, "value")
            if inner is not None:
                self.statement(inner, outer, parent)
        elif kind == "ambient_declaration":
            for inner in node.named_children:
                self.statement(inner, outer, parent)
        elif kind in _FUNCTIONS and field(node, "name") is not None:
            self.add(text(field(node, "name")), "function", node, outer=outer, body=field(node, "body"))
        elif kind in _CLASSES and field(node, "name") is not None:
            self.class_(node, outer, text(field(node, "name")), parent)
        elif kind in ("lexical_declaration", "variable_declaration"):
            for declarator in named(node, "variable_declarator"):
                self.declarator(node, declarator, outer)
        elif kind == "type_alias_declaration":
            self.add(text(field(node, "name")), "constant", node, outer=outer, detail="type", body=field(node, "value"))

    def declarator(self, declaration: Any, declarator: Any, outer: Any) -> None:
        name_node, value = field(declarator, "name"), field(declarator, "value")
        if name_node is None or name_node.type != "identifier":
            return
        name = text(name_node)
        span = outer if len(named(declaration, "variable_declarator")) == 1 else declarator
        if value is not None and value.type in _FUNCTION_VALUES:
            keyword = text(declaration).split(None, 1)[0]
            signature = f"{keyword} {self.header(declarator, field(value, 'body'))}"
            self.add(name, "function", declarator, outer=span, body=field(value, "body"), signature=signature)
        elif value is not None and value.type == "class":
            self.class_(value, span, name, None)
        else:
            self.add(name, "constant", declarator, outer=span, signature=text(declarator).split("\n", 1)[0][:120])

    def class_(self, node: Any, outer: Any, name: str, parent: Symbol | None) -> None:
        body = field(node, "body")
        detail = _CLASSES.get(node.type, "")
        symbol = self.add(
            name, "class", node, parent=parent, outer=outer, body=body, detail=detail, bases=self.bases(node)
        )
        for member in named(body):
            if member.type in _METHODS and field(member, "name") is not None:
                self.add(text(field(member, "name")), "method", member, parent=symbol, body=field(member, "body"))
            elif member.type in _FIELDS and field(member, "name") is not None:
                self.names.add(text(field(member, "name")))
            elif member.type == "property_identifier":  # an enum member
                self.names.add(text(member))
            elif member.type == "enum_assignment" and field(member, "name") is not None:
                self.names.add(text(field(member, "name")))

    def bases(self, node: Any) -> list[str]:
        out: list[str] = []
        for clause in named(node, "class_heritage", "extends_type_clause"):
            parts = named(clause, "extends_clause", "implements_clause") or [clause]
            for part in parts:
                for item in part.named_children:
                    if item.type not in ("type_arguments", "comment"):
                        out.append(strip_generics(text(item)))
        return out

    def find_imports(self) -> None:
        for source in self.found.get("source", ()):
            statement = source.parent.parent
            self.imports.append(Import(text(source), self.imported_names(statement), first_line(source)))
        self.imports.sort(key=lambda i: i.line)

    @staticmethod
    def imported_names(statement: Any) -> tuple[str, ...]:
        names: list[str] = []
        for clause in named(statement, "import_clause", "export_clause"):
            for item in clause.named_children:
                if item.type == "identifier":
                    names.append(text(item))
                elif item.type == "namespace_import":
                    names.append("*")
                elif item.type == "export_specifier":
                    names.append(text(field(item, "name")))
                elif item.type == "named_imports":
                    names += [text(field(s, "name")) for s in named(item, "import_specifier")]
        return tuple(dict.fromkeys(names))
