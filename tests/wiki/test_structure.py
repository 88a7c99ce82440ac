"""Structure XML: finding it in prose and fences, repairing it, keeping sections, cleaning ids and paths."""

from __future__ import annotations

import pytest

from wikismith.wiki.manifest import page_files
from wikismith.wiki.outline import fallback_structure
from wikismith.wiki.structure import (
    PageSpec,
    Structure,
    StructureError,
    bounded_tree,
    clean_structure,
    parse_structure,
    repair_xml,
    structure_prompt,
)

XML = """<wiki_structure>
  <title>Q&A Wiki</title>
  <description>Tools & more</description>
  <sections>
    <section id="section-1"><title>Core</title>
      <pages><page_ref>page-1</page_ref><page_ref>ghost</page_ref></pages>
      <subsections><section_ref>section-2</section_ref></subsections></section>
    <section id="section-2"><title>Details</title><pages><page_ref>page-2</page_ref></pages></section>
  </sections>
  <pages>
    <page id="page-1"><title>Overview</title><description>All of it</description>
      <importance>HIGH</importance>
      <relevant_files><file_path>./src/a.py</file_path><file_path>missing.py</file_path>
        <file_path>b.py</file_path></relevant_files>
      <related_pages><related>page-2</related><related>page-9</related></related_pages>
      <parent_section>section-1</parent_section></page>
    <page id="page-2"><title>Details</title><importance>urgent</importance>
      <relevant_files><file_path>src/a.py</file_path></relevant_files></page>
  </pages>
</wiki_structure>"""


def test_parses_xml_inside_a_fence_after_prose() -> None:
    structure = parse_structure(f"Sure! Here it is:\n```xml\n{XML}\n```\nHope that helps.")
    assert structure.title == "Q&A Wiki"
    assert [p.id for p in structure.pages] == ["page-1", "page-2"]
    assert structure.pages[0].importance == "high"
    assert structure.pages[1].importance == "medium"


def test_keeps_sections_and_computes_root_sections() -> None:
    structure = parse_structure(XML)
    assert [s.id for s in structure.sections] == ["section-1", "section-2"]
    assert structure.sections[0].subsections == ("section-2",)
    assert structure.root_sections == ["section-1"]


def test_repair_escapes_bare_ampersand_and_less_than_but_keeps_entities() -> None:
    assert repair_xml("<a>x & y &amp; z &#38; 1 < 2</a>") == "<a>x &amp; y &amp; z &#38; 1 &lt; 2</a>"


def test_control_characters_are_removed() -> None:
    structure = parse_structure(XML.replace("Overview", "Over\x01view\x0b"))
    assert structure.pages[0].title == "Overview"


def test_entity_declarations_are_stripped() -> None:
    hostile = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' + XML
    assert parse_structure(hostile).title == "Q&A Wiki"


def test_last_complete_block_wins_over_an_echoed_template() -> None:
    echoed = "<wiki_structure><title>[Overall title]</title><pages><page><title>broken</pages></wiki_structure>"
    assert parse_structure(echoed + "\n" + XML).title == "Q&A Wiki"


def test_missing_close_tag_says_the_answer_was_cut() -> None:
    with pytest.raises(StructureError, match="no closing"):
        parse_structure(XML[:200])


def test_no_xml_at_all_is_an_error() -> None:
    with pytest.raises(StructureError, match="no <wiki_structure>"):
        parse_structure("I cannot help with that.")


def test_syntax_error_is_reported_with_the_parser_message() -> None:
    with pytest.raises(StructureError, match="XML syntax error"):
        parse_structure("<wiki_structure><title>x</titl><pages><page/></pages></wiki_structure>")


def test_pages_without_ids_get_unique_ids() -> None:
    xml = (
        "<wiki_structure><title>t</title><page><title>a</title></page><page id='p'><title>b</title></page>"
        "<page id='p'><title>c</title></page></wiki_structure>"
    )
    assert [p.id for p in parse_structure(xml).pages] == ["page-1", "p", "p-2"]


MODEL_IDS = """<wiki_structure><title>T</title>
<sections>
  <section id="Core_Section"><title>Core</title><pages><page_ref>Page_Overview</page_ref></pages>
    <subsections><section_ref>API Section</section_ref></subsections></section>
  <section id="API Section"><title>API</title><pages><page_ref>Page_API</page_ref><page_ref>page_api</page_ref></pages>
  </section>
</sections>
<pages>
  <page id="Page_Overview"><title>Overview</title><related_pages><related>Page_API</related></related_pages>
    <parent_section>Core_Section</parent_section></page>
  <page id="Page_API"><title>API</title><parent_section>API Section</parent_section></page>
  <page id="page_api"><title>API again</title><related_pages><related>Page_Overview</related></related_pages></page>
</pages></wiki_structure>"""


def test_references_follow_ids_slugged_and_made_unique() -> None:
    structure, dropped = clean_structure(parse_structure(MODEL_IDS), [])
    assert [p.id for p in structure.pages] == ["page-overview", "page-api", "page-api-2"]
    overview, api, again = structure.pages
    assert (overview.related, overview.parent_section) == (("page-api",), "core-section")
    assert (api.parent_section, again.related) == ("api-section", ("page-overview",))
    assert [(s.id, s.pages, s.subsections) for s in structure.sections] == [
        ("core-section", ("page-overview",), ("api-section",)),
        ("api-section", ("page-api", "page-api-2"), ()),
    ]
    assert structure.root_sections == ["core-section"]
    assert dropped == []


def test_clean_drops_missing_files_unknown_ids_and_fixes_suffix_paths() -> None:
    structure, dropped = clean_structure(parse_structure(XML), ["src/a.py", "pkg/b.py", "README.md"])
    first = structure.pages[0]
    assert first.file_paths == ("src/a.py", "pkg/b.py")
    assert first.related == ("page-2",)
    assert structure.sections[0].pages == ("page-1",)
    assert any("missing.py" in d for d in dropped)
    assert any("page-9" in d for d in dropped)
    assert any("ghost" in d for d in dropped)


def test_to_wiki_is_deepwiki_shape() -> None:
    wiki = parse_structure(XML).to_wiki().model_dump(by_alias=True)
    assert wiki["id"] == "wiki"
    assert wiki["rootSections"] == ["section-1"]
    assert wiki["pages"][0]["filePaths"] == ["./src/a.py", "missing.py", "b.py"]


@pytest.mark.parametrize("comprehensive", [False, True])
def test_prompt_names_page_count_language_and_files(comprehensive: bool) -> None:
    prompt = structure_prompt(
        owner="o",
        repo="r",
        repo_type="github",
        files=["a.py", "b.py"],
        readme="hello",
        language_name="Japanese (日本語)",
        comprehensive=comprehensive,
    )
    assert ("8-12" if comprehensive else "4-6") in prompt
    assert "<file_tree>\na.py\nb.py\n</file_tree>" in prompt
    assert "Japanese (日本語)" in prompt
    assert ("<sections>" in prompt) is comprehensive


def test_fallback_structure_covers_the_tree_within_the_page_count() -> None:
    files = ["README.md", "calc/__init__.py", "calc/lexer.py", "calc/parser.py", "calc/eval.py", "cli.py"]
    structure = fallback_structure(files, title="tinycalc", comprehensive=False)
    assert 4 <= len(structure.pages) <= 6
    assert structure.pages[0].title == "Overview"
    assert "README.md" in structure.pages[0].file_paths
    covered = {f for p in structure.pages for f in p.file_paths}
    assert covered <= set(files)
    assert all(p.related for p in structure.pages)


def test_fallback_comprehensive_has_sections() -> None:
    files = [f"pkg{i}/m{j}.py" for i in range(3) for j in range(4)]
    structure = fallback_structure(files, title="x", comprehensive=True)
    assert 8 <= len(structure.pages) <= 12
    assert structure.root_sections == ["section-1", "section-2"]


def test_page_file_names_never_collide_or_shadow_the_outputs() -> None:
    ids = ["Overview", "overview", "overview-2", "README", "a/b", "a-b", "../x", "wiki"]
    structure = Structure(title="t", pages=tuple(PageSpec(id=i, title=i) for i in ids))
    names = list(page_files(structure).values())
    assert len(set(names)) == len(ids)
    assert not {"readme.md", "wiki.md", "manifest.md", "README.md"} & set(names)
    assert all("/" not in n and not n.startswith(".") for n in names)


def test_a_large_tree_keeps_the_shallowest_paths_in_order_within_the_budget() -> None:
    files = [f"deep/a/b/c/file{i:04d}.py" for i in range(2000)] + ["README.md", "src/main.py", "src/util.py"]
    tree = bounded_tree(files, max_files=1500, max_chars=200)
    lines = tree.split("\n")
    assert {"README.md", "src/main.py", "src/util.py"} <= set(lines)  # the layout first, not one directory in full
    assert lines[:-1] == [f for f in files if f in set(lines)]  # in the original order
    assert len(tree) <= 200 + len(lines[-1]) + 1 and lines[-1] == f"… and {len(files) - len(lines) + 1} more files"
    assert bounded_tree(files[:3], max_files=5) == "\n".join(files[:3])  # small trees are untouched


def test_the_structure_prompt_bounds_the_tree_by_characters() -> None:
    files = [f"pkg/module_{i:05d}.py" for i in range(3000)]
    prompt = structure_prompt(
        owner="o", repo="r", repo_type="github", files=files, readme="", language_name="English",
        comprehensive=False, max_tree_chars=5000,
    )  # fmt: skip
    assert "pkg/module_00000.py" in prompt and "pkg/module_02999.py" not in prompt
    assert "more files" in prompt and len(prompt) < 5000 + 8000
