"""The code map over real source files in six languages: symbols, imports resolved, inheritance, references,
lookups, storage, and incremental rebuilds."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from wikismith.rag.codemap import FILE_NAME, CodeMap, Symbol, build_codemap, parse_batch, parse_files

POLYGLOT = Path(__file__).resolve().parents[1] / "fixtures" / "polyglot"


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def codemap() -> CodeMap:
    return build_codemap(POLYGLOT, all_files(POLYGLOT))


def one(codemap: CodeMap, symbol_id: str) -> Symbol:
    found = codemap.symbol(symbol_id)
    assert found is not None, f"{symbol_id} not in the map"
    return found


def test_python_symbols_carry_kind_signature_docstring_lines_and_parent(codemap: CodeMap) -> None:
    area = one(codemap, "shapes/base.py::Shape.area")
    assert (area.kind, area.start_line, area.end_line, area.parent) == ("method", 16, 18, "Shape")
    assert area.signature == "def area(self) -> float"
    assert area.doc == "The area in square units."
    shape = one(codemap, "shapes/base.py::Shape")
    assert (shape.kind, shape.doc, shape.parent) == ("class", "Something with an area.", None)
    assert one(codemap, "shapes/base.py::UNIT").kind == "constant"
    decorated = one(codemap, "shapes/render.py::render_all")
    assert (decorated.kind, decorated.start_line) == ("function", 12)  # the decorator's line counts
    module = codemap.module_symbol("shapes/base.py")
    assert module is not None and module.doc == "The shape every other shape extends."
    assert codemap.files["shapes/base.py"].module == "shapes.base"
    assert {"name", "radius", "sides"} <= set(codemap.files["shapes/base.py"].names)


def test_python_imports_resolve_absolute_relative_and_package_imports(codemap: CodeMap) -> None:
    assert codemap.imports_of("shapes/render.py") == ["shapes/base.py"]
    assert codemap.imports_of("shapes/__init__.py") == ["shapes/base.py"]
    math = next(i for i in codemap.files["shapes/base.py"].imports if i.target == "math")
    assert math.resolved == ()  # the standard library is not in the repository
    assert codemap.importers_of("shapes/base.py") == ["shapes/__init__.py", "shapes/render.py"]


def test_javascript_and_typescript_symbols_and_imports(codemap: CodeMap) -> None:
    increment = one(codemap, "web/app.js::App.increment")
    assert (increment.kind, increment.doc) == ("method", "Add one, up to the limit.")
    assert one(codemap, "web/app.js::start").kind == "function"  # an arrow function bound to a const
    assert one(codemap, "web/util.js::clamp").doc == "Clamp a number into [low, high]."
    assert codemap.imports_of("web/app.js") == ["web/util.js", "web/legacy.js"]  # import and require()
    interface = one(codemap, "ts/models.ts::Shape")
    assert (interface.kind, interface.detail) == ("class", "interface")
    assert codemap.imports_of("ts/index.ts") == ["ts/models.ts", "ts/view.tsx"]
    assert one(codemap, "ts/view.tsx::View.title").signature == "title(): string"


def test_go_methods_belong_to_their_receiver_and_imports_follow_go_mod(codemap: CodeMap) -> None:
    dist = one(codemap, "geo/geo/point.go::Point.Dist")
    assert (dist.kind, dist.parent, dist.doc) == ("method", "Point", "Dist is the distance to q.")
    assert dist.signature == "func (p Point) Dist(q Point) float64"
    point = one(codemap, "geo/geo/point.go::Point")
    assert (point.detail, point.doc) == ("struct", "Point is a place on the plane.")
    assert codemap.files["geo/geo/point.go"].module == "geo"
    assert codemap.imports_of("geo/main.go") == ["geo/geo/point.go"]


def test_rust_impl_methods_traits_and_use_paths_resolve(codemap: CodeMap) -> None:
    new = one(codemap, "rust/src/shapes/circle.rs::Circle.new")
    assert (new.kind, new.parent) == ("method", "Circle")
    assert one(codemap, "rust/src/shapes.rs::Area").detail == "trait"
    assert codemap.imports_of("rust/src/lib.rs") == ["rust/src/shapes.rs", "rust/src/shapes/circle.rs"]
    assert codemap.imports_of("rust/src/shapes/circle.rs") == ["rust/src/shapes.rs"]  # super::Area
    assert codemap.files["rust/src/shapes/circle.rs"].module == "crate::shapes::circle"
    assert one(codemap, "rust/src/lib.rs::unit_area").doc == "The area of a unit circle."


def test_java_classes_constants_and_imports_resolve(codemap: CodeMap) -> None:
    base = "java/src/main/java/com/example/"
    norm = one(codemap, f"{base}geo/Point.java::Point.norm")
    assert (norm.kind, norm.doc, norm.signature) == ("method", "Distance to the origin.", "public double norm()")
    assert one(codemap, f"{base}geo/Point.java::Point.ORIGIN").kind == "constant"
    assert codemap.imports_of(f"{base}App.java") == [f"{base}geo/Point.java", f"{base}geo/Base.java"]
    assert codemap.files[f"{base}App.java"].module == "com.example"


def test_files_without_a_grammar_get_an_entry_without_symbols(codemap: CodeMap) -> None:
    for path in ("notes.md", "tool.rb", "geo/go.mod"):
        facts = codemap.files[path]
        assert (facts.language, facts.symbols, facts.error) == ("", (), False)
        assert len(facts.digest) == 64


def test_inheritance_links_classes_of_the_repository(codemap: CodeMap) -> None:
    def bases(symbol_id: str) -> list[str]:
        return [s.id for s in codemap.bases_of(one(codemap, symbol_id))]

    assert bases("shapes/base.py::Circle") == ["shapes/base.py::Shape"]
    assert bases("web/app.js::App") == ["web/app.js::Base"]
    assert bases("ts/models.ts::Square") == ["ts/models.ts::Shape"]
    assert bases("rust/src/shapes/circle.rs::Circle") == ["rust/src/shapes.rs::Area"]  # impl Area for Circle
    point = "java/src/main/java/com/example/geo/Point.java::Point"
    assert bases(point) == ["java/src/main/java/com/example/geo/Base.java::Base"]  # Comparable is not ours


def test_references_are_best_effort_calls_to_repository_symbols(codemap: CodeMap) -> None:
    def calls(symbol_id: str) -> list[str]:
        return [s.id for s in codemap.references_from(one(codemap, symbol_id))]

    assert set(calls("shapes/render.py::demo")) == {"shapes/render.py::render", "shapes/base.py::Circle"}
    assert calls("web/app.js::App.increment") == ["web/util.js::clamp"]
    assert "rust/src/shapes/circle.rs::Circle.new" in calls("rust/src/lib.rs::unit_area")


def test_lookup_by_bare_name_qualname_module_and_full_id(codemap: CodeMap) -> None:
    assert {s.id for s in codemap.lookup("describe")} == {"shapes/base.py::Shape.describe"}
    assert {s.id for s in codemap.lookup("Circle.area")} == {
        "shapes/base.py::Circle.area",
        "rust/src/shapes/circle.rs::Circle.area",
    }
    assert [s.kind for s in codemap.lookup("shapes.base")] == ["module"]
    assert [s.id for s in codemap.lookup("shapes.base.Circle")] == ["shapes/base.py::Circle"]
    assert [s.id for s in codemap.lookup("shapes/base.py::Shape")] == ["shapes/base.py::Shape"]
    assert codemap.lookup("Tinycalc") == [] and codemap.lookup("") == []


def test_a_saved_map_loads_equal_and_no_temporary_file_is_left(codemap: CodeMap, tmp_path: Path) -> None:
    codemap.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    loaded = CodeMap.load(tmp_path)
    assert loaded is not None and loaded.files == codemap.files


def test_a_missing_damaged_or_other_format_map_loads_as_none(codemap: CodeMap, tmp_path: Path) -> None:
    assert CodeMap.load(tmp_path) is None
    (tmp_path / FILE_NAME).write_bytes(b'{"version": 1, "files": [["cut')
    assert CodeMap.load(tmp_path) is None
    (tmp_path / FILE_NAME).write_bytes(orjson.dumps({"version": 999, "files": []}))
    assert CodeMap.load(tmp_path) is None


def test_a_rebuild_reparses_only_files_whose_content_changed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(POLYGLOT, root)
    first = build_codemap(root, all_files(root))
    (root / "shapes/render.py").write_text("def render(shape):\n    return str(shape)\n")
    second = build_codemap(root, all_files(root), first)
    changed = [p for p in second.files if second.files[p] is not first.files[p]]
    assert changed == ["shapes/render.py"]
    assert [s.qualname for s in second.symbols_in("shapes/render.py")] == ["", "render"]
    assert build_codemap(root, all_files(root), second).files == second.files


def test_a_new_file_resolves_an_import_of_an_unchanged_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/__init__.py").write_text("")
    (root / "pkg/app.py").write_text("from pkg.helpers import tidy\n\n\ndef run():\n    return tidy()\n")
    first = build_codemap(root, ["pkg/__init__.py", "pkg/app.py"])
    assert first.imports_of("pkg/app.py") == []
    (root / "pkg/helpers.py").write_text("def tidy():\n    return 1\n")
    second = build_codemap(root, ["pkg/__init__.py", "pkg/app.py", "pkg/helpers.py"], first)
    assert second.imports_of("pkg/app.py") == ["pkg/helpers.py"]
    assert [s.id for s in second.references_from(one(second, "pkg/app.py::run"))] == ["pkg/helpers.py::tidy"]


def test_a_file_with_a_syntax_error_is_marked_and_keeps_what_parsed(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def good():\n    return 1\n\n\ndef bad(:\n    pass\n")
    facts = build_codemap(tmp_path, ["broken.py"]).files["broken.py"]
    assert facts.error is True
    assert "good" in [s.qualname for s in facts.symbols]


def test_many_files_are_parsed_in_two_processes_with_the_same_facts(tmp_path: Path) -> None:
    todo = []
    for i in range(240):
        (tmp_path / f"m{i}.py").write_text(f'def f{i}(x):\n    """Doc {i}."""\n    return g(x) + {i}\n')
        todo.append((f"m{i}.py", f"digest-{i}"))
    parallel = sorted(parse_files(tmp_path, todo), key=lambda f: f.path)
    assert parallel == sorted(parse_batch(tmp_path, todo), key=lambda f: f.path)
    assert len(parallel) == 240 and parallel[0].symbols[1].doc == "Doc 0."
