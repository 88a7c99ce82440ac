"""A deterministic wiki structure for when a small model cannot write the XML: from the code map, else the tree.

Used only when the generator allows it (the embedded `local` provider, or `--fallback-structure`), always
logged. From the code map (`code_structure`): an overview (README, entry points), then one page per cohesive
group of modules: modules that import one another, or share a package, are grouped until the mode's page count
is reached (whole directories are grouped in a large repository). Without code (`fallback_structure`): an
overview, then one page per directory (or per file when there are too few directories), capped likewise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from wikismith.rag.codemap import CodeMap
from wikismith.wiki.codebrief import code_files, main_symbols, package_of
from wikismith.wiki.structure import PageSpec, SectionSpec, Structure

_DOC_SUFFIXES = (".md", ".rst", ".txt")
# Files too slight for a page of their own when a directory is split into one page per file.
_MINOR = frozenset({"__init__.py", "__main__.py", "conftest.py", "setup.py", "index.js", "index.ts", "mod.rs"})


def fallback_structure(files: Sequence[str], *, title: str, comprehensive: bool) -> Structure:
    """Overview plus one page per directory/file, ids `page-1…`; sections when `comprehensive`."""
    low, high = (8, 12) if comprehensive else (4, 6)
    readmes = [f for f in files if PurePosixPath(f).name.lower().startswith("readme")]
    code = [f for f in files if f not in readmes and not f.lower().endswith(_DOC_SUFFIXES)]
    groups = _groups(code or [f for f in files if f not in readmes], want=low - 1, cap=high - 1)
    top_level = [f for f in code if "/" not in f][:4]
    overview = PageSpec(
        id="page-1",
        title="Overview",
        description=f"What {title} is, how it is organised, and how to use it.",
        importance="high",
        file_paths=tuple(dict.fromkeys([*readmes[:1], *top_level, *(g[1][0] for g in groups[:4])])),
    )
    pages = [overview]
    for i, (name, paths) in enumerate(groups, start=2):
        pages.append(
            PageSpec(
                id=f"page-{i}",
                title=name,
                description=f"The code in {name}: its purpose, main functions and classes, and how it is used.",
                importance="high" if i <= 3 else "medium",
                file_paths=tuple(paths[:8]),
            )
        )
    ids = [p.id for p in pages]
    pages = [p.model_copy(update={"related": tuple(_neighbours(ids, p.id))}) for p in pages]
    sections: tuple[SectionSpec, ...] = ()
    if comprehensive:
        sections = (
            SectionSpec(id="section-1", title="Overview", pages=("page-1",)),
            SectionSpec(id="section-2", title="Components", pages=tuple(ids[1:])),
        )
        pages = [
            p.model_copy(update={"parent_section": "section-1" if p.id == "page-1" else "section-2"}) for p in pages
        ]
    return Structure(
        title=title,
        description=f"A wiki for {title}, outlined from its file tree.",
        pages=tuple(pages),
        sections=sections,
    )


def _groups(files: Sequence[str], *, want: int, cap: int) -> list[tuple[str, list[str]]]:
    """Files grouped by directory; groups split into single files while there are fewer than `want`."""
    by_dir: dict[str, list[str]] = defaultdict(list)
    for path in sorted(files):
        parent = str(PurePosixPath(path).parent)
        by_dir["(top level)" if parent == "." else parent].append(path)
    groups = sorted(by_dir.items(), key=lambda item: (-len(item[1]), item[0]))
    while len(groups) < want:
        index = next((i for i, (_, paths) in enumerate(groups) if len(paths) > 1), None)
        if index is None:
            break
        _, paths = groups.pop(index)
        singles = [p for p in paths if PurePosixPath(p).name not in _MINOR] or paths
        groups[index:index] = [(_title(p), [p]) for p in singles]
    return [(name if name != "(top level)" else "Top-level modules", paths) for name, paths in groups[:cap]]


def _title(path: str) -> str:
    return PurePosixPath(path).name


def _neighbours(ids: Sequence[str], page_id: str) -> list[str]:
    i = ids.index(page_id)
    near = [ids[0], *ids[max(1, i - 1) : i], *ids[i + 1 : i + 2]]
    return [p for p in dict.fromkeys(near) if p != page_id]


# --- from the code map ----------------------------------------------------------------------------------------

MAX_GROUP = 8
_PER_FILE_UNITS = 40  # above this many code files, whole directories are the units that are grouped


def code_structure(
    codemap: CodeMap, root: Path, files: Sequence[str], *, title: str, comprehensive: bool
) -> Structure | None:
    """Overview plus one page per cohesive group of modules (modules that import one another, or share a
    package), named and described from their symbols; None when the map has no code to group."""
    low, high = (8, 12) if comprehensive else (4, 6)
    groups = module_groups(codemap, files, want=low - 1, cap=high - 1)
    if not groups:
        return None
    readmes = [f for f in files if PurePosixPath(f).name.lower().startswith("readme")]
    entries = [f for f in code_files(codemap, files) if _entry_file(codemap, f)]
    overview = PageSpec(
        id="page-1",
        title="Overview",
        description=f"What {title} is, how it is organised and how to run it.",
        importance="high",
        file_paths=tuple(dict.fromkeys([*readmes[:1], *entries[:3], *(g[0] for g in groups[:4])]))[:MAX_GROUP],
    )
    pages = [overview]
    for i, group in enumerate(groups, start=2):
        names = [s.name for path in group for s in main_symbols(codemap, path, 3)]
        described = ", ".join(dict.fromkeys(names)) or "its code"
        pages.append(
            PageSpec(
                id=f"page-{i}",
                title=group_title(group),
                description=f"The modules {', '.join(group[:4])}{' …' if len(group) > 4 else ''}: {described}.",
                importance="high" if i <= 3 else "medium",
                file_paths=tuple(group[:MAX_GROUP]),
            )
        )
    structure = fallback_structure(files, title=title, comprehensive=comprehensive)
    ids = [p.id for p in pages]
    pages = [p.model_copy(update={"related": tuple(_neighbours(ids, p.id))}) for p in pages]
    sections = structure.sections and (
        SectionSpec(id="section-1", title="Overview", pages=("page-1",)),
        SectionSpec(id="section-2", title="Components", pages=tuple(ids[1:])),
    )
    if sections:
        pages = [
            p.model_copy(update={"parent_section": "section-1" if p.id == "page-1" else "section-2"}) for p in pages
        ]
    description = f"A wiki for {title}, outlined from its code: modules grouped by their imports and packages."
    return Structure(title=title, description=description, pages=tuple(pages), sections=tuple(sections))


def _entry_file(codemap: CodeMap, path: str) -> bool:
    facts = codemap.files[path]
    return PurePosixPath(path).name == "__main__.py" or any(s.name == "main" for s in facts.symbols)


def group_title(group: Sequence[str]) -> str:
    """`tinycalc/lexer.py` + `tinycalc/parser.py` -> "Lexer and parser"; a whole directory by its path."""
    stems = [PurePosixPath(p).stem for p in group if PurePosixPath(p).stem not in ("__init__", "index", "mod")]
    if not stems:
        return package_of(group[0])
    words = [s.strip("_").replace("_", " ") for s in dict.fromkeys(stems)]
    if len(words) > 3:
        return f"{package_of(group[0])}: {', '.join(words[:3])} and more"
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return joined[:1].upper() + joined[1:]


def module_groups(codemap: CodeMap, files: Sequence[str], *, want: int, cap: int) -> list[list[str]]:
    """Code files in `want`..`cap` groups: units (files, or directories in a large repository) are merged,
    the pair with the most imports between them (per member) first, same-directory pairs next, while there are
    more than `want`, each group at most MAX_GROUP files unless whole directories are the units."""
    code = [f for f in code_files(codemap, files) if _substantial(codemap, f)]
    if not code:
        return []
    by_dir = len(code) > _PER_FILE_UNITS
    units: dict[str, list[str]] = defaultdict(list)
    for path in code:
        units[package_of(path) if by_dir else path].append(path)
    groups = [sorted(members) for members in units.values()]
    links = _links(codemap, groups)
    while len(groups) > want:
        best = _best_pair(groups, links, by_dir, strict=len(groups) <= cap)
        if best is None:
            break
        i, j = best
        groups[i] = sorted(groups[i] + groups.pop(j))
        links = _links(codemap, groups)
    ranked = sorted(groups, key=lambda g: (-sum(len(codemap.symbols_in(p)) for p in g), g[0]))
    return ranked[:cap]


def _substantial(codemap: CodeMap, path: str) -> bool:
    """A module worth a page's attention: it defines something or imports something of the repository."""
    return len(codemap.symbols_in(path)) > 1 or bool(codemap.imports_of(path))


def _links(codemap: CodeMap, groups: list[list[str]]) -> dict[tuple[int, int], int]:
    where = {path: i for i, group in enumerate(groups) for path in group}
    links: dict[tuple[int, int], int] = defaultdict(int)
    for path, i in where.items():
        for target in codemap.imports_of(path):
            j = where.get(target)
            if j is not None and j != i:
                links[(min(i, j), max(i, j))] += 1
    return links


def _best_pair(
    groups: list[list[str]], links: dict[tuple[int, int], int], by_dir: bool, *, strict: bool
) -> tuple[int, int] | None:
    """The pair to merge next: most links per member, then same directory; None when `strict` and only
    unrelated pairs are left, or when every merge would make a group too large."""
    best: tuple[float, int, int] | None = None
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            if not by_dir and len(groups[i]) + len(groups[j]) > MAX_GROUP:
                continue
            shared = links.get((i, j), 0) / (len(groups[i]) * len(groups[j])) ** 0.5
            same = package_of(groups[i][0]) == package_of(groups[j][0])
            score = shared + (0.25 if same else 0.0) - 0.01 * (len(groups[i]) + len(groups[j]))
            if strict and shared == 0 and not same:
                continue
            if best is None or score > best[0]:
                best = (score, i, j)
    return (best[1], best[2]) if best is not None else None
