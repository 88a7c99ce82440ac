"""A deterministic wiki structure derived from the file tree, for when a small model cannot write the XML.

Used only when the generator allows it (the embedded `local` provider, or `--fallback-structure`), always
logged. Pages: an overview (README and top-level files), then one page per directory (or per file when there
are too few directories to fill the wiki), capped at the mode's page count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePosixPath

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
