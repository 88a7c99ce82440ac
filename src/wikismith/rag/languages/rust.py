"""Rust: functions, structs, enums, unions, traits (their methods), `impl` blocks (methods under the type,
`impl Trait for Type` as a base of a type of the same file), consts and statics, type aliases, macros, inline
modules (qualname `inner.f`), doc comments (`///`, `//!`), `use` trees flattened to paths, `mod x;`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wikismith.rag.codemap import Import, Symbol
from wikismith.rag.codemap_parse import Extractor, comment_text, field, first_line, named, strip_generics, text

_TYPES = {"struct_item": "struct", "enum_item": "enum", "union_item": "union", "trait_item": "trait"}
_CONSTANTS = {"const_item": "const", "static_item": "static", "type_item": "type"}


def use_paths(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(`crate::a::B`, `B`) for each path a `use` tree names; `*` for a glob."""
    kind = node.type
    if kind == "use_as_clause":
        return [(path, text(field(node, "alias"))) for path, _ in use_paths(field(node, "path"), prefix)]
    if kind == "scoped_use_list":
        base = field(node, "path")
        inner = prefix + (text(base) + "::" if base is not None else "")
        return [p for item in named(field(node, "list")) for p in use_paths(item, inner)]
    if kind == "use_list":
        return [p for item in named(node) for p in use_paths(item, prefix)]
    if kind == "use_wildcard":
        base = node.named_children[0] if node.named_child_count else None
        return [(prefix + text(base), "*")] if base is not None else []
    full = prefix + "".join(text(node).split())
    return [(full, full.rsplit("::", 1)[-1])]


class RustFacts(Extractor):
    patterns = """
(call_expression function: [(identifier) @name (field_expression field: (field_identifier) @name)
                            (scoped_identifier name: (identifier) @name)])
(struct_expression name: (type_identifier) @name)
(field_declaration name: (field_identifier) @attr)
(use_declaration argument: (_) @use)
"""
    comment_types = frozenset({"line_comment", "block_comment"})

    def skipped_above(self) -> frozenset[str]:
        return frozenset({"attribute_item"})

    def walk(self) -> None:
        self.module_doc = self.inner_doc()
        self.impls: list[tuple[str, str]] = []
        self.items(self.root, None, "")
        for owner, trait in self.impls:  # `impl Trait for Type`: a base of Type when Type is defined here
            for i, symbol in enumerate(self.symbols):
                if symbol.qualname == owner and symbol.kind == "class" and trait not in symbol.bases:
                    self.symbols[i] = replace(symbol, bases=(*symbol.bases, trait))
        for node in self.found.get("use", ()):
            for path, name in use_paths(node):
                self.imports.append(Import(path, (name,), first_line(node)))
        self.imports.sort(key=lambda i: i.line)

    def inner_doc(self) -> str:
        lines = []
        for child in self.root.named_children:
            if child.type != "line_comment" or not text(child).startswith("//!"):
                break
            lines.append(comment_text(text(child)))
        return "\n".join(lines).strip()

    def items(self, container: Any, parent: Symbol | str | None, prefix: str) -> None:
        for child in named(container):
            kind, name_node = child.type, field(child, "name")
            name = prefix + text(name_node)
            if kind in ("function_item", "function_signature_item", "macro_definition") and name_node is not None:
                method = parent is not None
                detail = "macro" if kind == "macro_definition" else ""
                self.add(
                    name,
                    "method" if method else "function",
                    child,
                    parent=parent,
                    body=field(child, "body"),
                    detail=detail,
                )
            elif kind in _TYPES and name_node is not None:
                bounds = [strip_generics(text(b)) for b in named(field(child, "bounds"))]
                symbol = self.add(name, "class", child, body=field(child, "body"), detail=_TYPES[kind], bases=bounds)
                if kind == "trait_item":
                    self.items(field(child, "body"), symbol, "")
                for variant in named(field(child, "body"), "enum_variant"):
                    self.names.add(text(field(variant, "name")))
            elif kind == "impl_item":
                owner = prefix + strip_generics(text(field(child, "type")))
                trait = field(child, "trait")
                if trait is not None:
                    self.impls.append((owner, strip_generics(text(trait))))
                self.items(field(child, "body"), owner, "")
            elif kind in _CONSTANTS and name_node is not None:
                signature = text(child).split("\n", 1)[0][:120]
                self.add(name, "constant", child, parent=parent, detail=_CONSTANTS[kind], signature=signature)
            elif kind == "mod_item" and name_node is not None:
                body = field(child, "body")
                if body is None:
                    self.imports.append(Import(f"self::{text(name_node)}", (), first_line(child)))
                else:
                    self.items(body, None, f"{name}.")
