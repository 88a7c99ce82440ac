"""How the MCP tools show a cached wiki: plain inputs (a wiki written to a temporary store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikismith.server.mcp.names import Target
from wikismith.server.mcp.wikis import Found, NoWiki, contents_text, find_wiki, structure_text, summary
from wikismith.wiki.store import RepoInfo, WikiCacheData, WikiPage, WikiSection, WikiStore, WikiStructure

INTRO = """<details>
<summary>Relevant source files</summary>

- [a.py](a.py)
</details>

# Intro

```python
print("not prose")
```

The **parser** reads [tokens](#p2) into a tree, one `Node` at a time, and then it goes on and on and on to say a
great deal more than one line should hold.
"""


def wiki() -> WikiCacheData:
    pages = [WikiPage(id=f"p{i}", title=f"Page {i}") for i in (1, 2, 3)]
    generated = {
        "p1": WikiPage(id="p1", title="Page 1", content=INTRO),
        "p2": WikiPage(id="p2", title="Page 2", content="# Two\n\n" + "x" * 500),
    }
    sections = [
        WikiSection(id="s1", title="Core", pages=["p2"], subsections=["s2"]),
        WikiSection(id="s2", title="Details", pages=["p1", "p2"]),
    ]
    structure = WikiStructure(title="W", description="about", pages=pages, sections=sections, rootSections=["s1"])
    return WikiCacheData(wiki_structure=structure, generated_pages=generated, provider="emu", model="m")


def found() -> Found:
    return Found(Target("https://github.com/o/r", "o", "r", "github"), "en", wiki())


def test_a_page_summary_is_its_first_prose_as_plain_text() -> None:
    line = summary(wiki().generated_pages["p1"], limit=60)
    assert line == "The parser reads tokens into a tree, one Node at a time, …"
    assert summary(wiki().generated_pages["p1"]).endswith("to say a great deal more than one line should hold.")
    assert summary(None) == "(not generated yet)"


def test_structure_nests_sections_and_lists_each_page_once() -> None:
    text = structure_text(found())
    assert text.splitlines()[:3] == ["# W", "about", ""]
    assert "language en · 3 pages · model emu/m" in text
    core, details, other = text.index("## Core"), text.index("### Details"), text.index("## Other pages")
    assert core < text.index("- p2: Page 2") < details < text.index("- p1: Page 1") < other
    assert text.count("- p2:") == 1
    assert "- p3: Page 3 — (not generated yet)" in text


def test_all_contents_are_cut_at_page_boundaries_with_a_note() -> None:
    text = contents_text(found(), None, max_chars=700)
    assert "# Intro" in text and "# Two" not in text
    assert "[cut at 700 characters: 1 of 3 pages shown" in text and text.rstrip().endswith("p2, p3]")


def test_a_local_wiki_recorded_for_another_directory_is_not_served(tmp_path: Path) -> None:
    store = WikiStore(tmp_path / "cache")
    data = wiki().model_copy(update={"repo": RepoInfo(owner="local", repo="r", type="local", localPath="/else/r")})
    store.put("local", "r", "local", "en", data)
    here = Target(str(tmp_path / "r"), "local", "r", "local", local_path=tmp_path / "r")
    there = Target("/else/r", "local", "r", "local", local_path=Path("/else/r"))
    assert find_wiki(store, there, None, "en").data.wiki_structure.title == "W"
    with pytest.raises(NoWiki, match=f"no wiki for {tmp_path / 'r'} yet: call generate_wiki"):
        find_wiki(store, here, None, "en")
