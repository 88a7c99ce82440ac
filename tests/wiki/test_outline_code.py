"""The outline for models that cannot write the structure, built from the code map: cohesive groups of
modules, named and described from their symbols; and the compact map the structure prompt gets."""

from __future__ import annotations

from pathlib import Path

from wikismith.rag.codemap import build_codemap
from wikismith.wiki.codebrief import compact_map, entry_points
from wikismith.wiki.outline import code_structure, module_groups

TINYCALC = Path(__file__).resolve().parents[2] / "examples" / "tinycalc"


def files_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_tinycalc_is_outlined_as_groups_of_modules_that_import_one_another() -> None:
    files = files_of(TINYCALC)
    structure = code_structure(build_codemap(TINYCALC, files), TINYCALC, files, title="tinycalc", comprehensive=False)
    assert structure is not None
    pages = {p.title: p for p in structure.pages}
    assert next(iter(pages)) == "Overview" and 4 <= len(pages) <= 6
    assert pages["Lexer and parser"].file_paths == ("tinycalc/lexer.py", "tinycalc/parser.py")
    assert "tokenize" in pages["Lexer and parser"].description and "Parser" in pages["Lexer and parser"].description
    assert all(len(p.file_paths) > 0 for p in structure.pages)
    assert len(structure.pages) < len([f for f in files if f.endswith(".py")]) + 1  # not one page per file


def test_a_larger_package_is_grouped_into_at_most_the_page_count(tmp_path: Path) -> None:
    files = []
    for area in ("net", "db", "ui"):
        for i in range(5):
            path = f"app/{area}/m{i}.py"
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(
                f"from app.{area}.m{(i + 1) % 5} import f{(i + 1) % 5}\n\n\ndef f{i}():\n    pass\n"
            )
            files.append(path)
        (tmp_path / f"app/{area}/__init__.py").write_text("")
    (tmp_path / "app/__init__.py").write_text("")
    codemap = build_codemap(tmp_path, files)
    groups = module_groups(codemap, files, want=3, cap=5)
    assert 3 <= len(groups) <= 5 and sorted(p for g in groups for p in g) == sorted(files)
    assert all(len({path.split("/")[1] for path in group}) == 1 for group in groups)


def test_the_compact_map_lists_packages_symbols_dependencies_and_entry_points() -> None:
    files = files_of(TINYCALC)
    codemap = build_codemap(TINYCALC, files)
    text = compact_map(codemap, TINYCALC, files)
    assert "- tinycalc/ (6 files)" in text and "parser.py: Number, Name, Binary, ParseError, Parser, parse" in text
    assert "`python -m tinycalc` (tinycalc/__main__.py)" in entry_points(codemap, TINYCALC, files)
    assert len(compact_map(codemap, TINYCALC, files, max_chars=120)) <= 120


def test_entry_points_include_console_scripts_and_http_routes(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[project.scripts]\nx = "pkg.cli:main"\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/api.py").write_text('@app.get("/items/{id}")\ndef item(id):\n    return id\n')
    files = ["pyproject.toml", "pkg/api.py"]
    found = entry_points(build_codemap(tmp_path, files), tmp_path, files)
    assert "console script `x` = `pkg.cli:main`" in found and "HTTP route `/items/{id}` in pkg/api.py" in found
