"""A wiki page's Markdown as HTML (`server.web.render`, `server.web.markup`): plain inputs, no server."""

from __future__ import annotations

from wikismith.server.web.markup import clean_html, mathml
from wikismith.server.web.render import highlight_css, render_markdown


class Links:
    def page(self, page_id: str) -> str | None:
        return f"/wiki/x/{page_id}" if page_id == "page-2" else None

    def source(self, path: str, start: int | None, end: int | None) -> tuple[str, str | None] | None:
        if not path.endswith(".py"):
            return None
        lines = f"?lines={start}-{end}" if start else ""
        return f"/src/{path}{lines}", f"https://forge/blob/c0ffee/{path}#L{start}-L{end}"

    def file_uri(self, uri: str) -> str | None:
        return uri.split("/repo/", 1)[1] if "/repo/" in uri else None


def html(text: str) -> str:
    return render_markdown(text, Links()).html


def test_tables_code_and_math_are_rendered() -> None:
    out = html("| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\ndef f(): pass\n```\n\nInline $a^2$.\n")
    assert "<table>" in out and "<td>1</td>" in out
    assert '<pre class="hl" data-lang="python">' in out and '<span class="k">def</span>' in out
    assert "<math" in out and "<msup><mi>a</mi><mn>2</mn></msup>" in out


def test_a_mermaid_fence_is_a_diagram_figure_holding_its_source() -> None:
    page = render_markdown("```mermaid\ngraph TD\nA-->B\n```\n")
    assert page.diagrams == 1
    assert '<figure class="diagram"><pre class="diagram-source">graph TD\nA--&gt;B\n</pre></figure>' in page.html


def test_headings_get_ids_and_make_the_table_of_contents() -> None:
    page = render_markdown("# Title\n\n## First *part*\n\n### Deeper\n\n#### Too deep\n")
    assert [(h.level, h.id, h.text) for h in page.toc] == [(2, "first-part", "First part"), (3, "deeper", "Deeper")]
    assert '<h2 id="first-part">' in page.html


def test_a_citation_links_the_source_view_with_the_forge_link_beside_it() -> None:
    out = html("Sources: [calc/parser.py:4-6]()")
    assert '<a href="/src/calc/parser.py?lines=4-6" class="cite">calc/parser.py:4-6</a>' in out
    assert 'href="https://forge/blob/c0ffee/calc/parser.py#L4-L6" class="forge"' in out


def test_a_file_uri_of_the_repository_becomes_a_source_link() -> None:
    out = html("- [calc/x.py](file:///home/me/repo/calc/x.py)")
    assert 'href="/src/calc/x.py" class="cite"' in out


def test_in_wiki_anchors_go_to_the_page_and_unknown_ones_stay() -> None:
    out = html("[two](#page-2) and [nine](#page-9)")
    assert '<a href="/wiki/x/page-2">two</a>' in out and '<a href="#page-9">nine</a>' in out


def test_a_non_file_citation_is_left_alone() -> None:
    assert '<a href="">README.md:1-2</a>' in html("[README.md:1-2]()")


def test_raw_html_keeps_only_the_allowlist() -> None:
    out = html('<details open>\n<summary>Files</summary>\n\n- a\n</details>\n\n<script>alert(1)</script>\n\n'
               'x <img src=x onerror="alert(1)"> <b onclick="x()">bold</b> <a id="top"></a>\n')  # fmt: skip
    assert "<details open>" in out and "<summary>Files</summary>" in out
    assert "<script" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<img" not in out and "onclick" not in out.replace("&lt;", "")
    assert "<b>bold</b>" in out and '<a id="top">' in out


def test_javascript_links_are_not_links() -> None:
    out = html("[x](javascript:alert(1)) [y](data:text/html,hi) [z](https://ok.example/)")
    assert "javascript:" not in out.replace("[x](javascript:alert(1))", "")
    assert 'href="data:' not in out and '<a href="https://ok.example/">z</a>' in out


def test_comments_are_dropped_and_entities_kept() -> None:
    assert clean_html("a<!-- secret -->b &amp; <br>") == "ab &amp; <br>"


def test_math_is_rebuilt_from_an_allowlist() -> None:
    assert "href" not in mathml(r"\href{javascript:alert(1)}{x}", block=False)
    out = html(r"$\text{<b>x</b>}$ and $$\frac{1}{2}$$")
    assert "<b>" not in out
    assert '<div class="math"><math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in out


def test_a_formula_that_cannot_be_typeset_is_shown_as_its_source() -> None:
    out = html(r"$\text{<script>}$")
    assert '<code class="math-error"' in out and "&lt;script&gt;" in out and "<script>" not in out


def test_highlight_css_has_a_dark_theme_and_styles_nothing_outside_code() -> None:
    css = highlight_css()
    assert "@media (prefers-color-scheme: dark)" in css
    rules = [line for line in css.splitlines() if "{" in line and not line.startswith("@media")]
    assert rules and all(line.startswith(".hl") for line in rules)


def test_an_ordinary_link_whose_text_looks_like_a_path_stays_as_it_is() -> None:
    out = html("[example.com](https://example.com/) and [calc/x.py](https://forge/o/r/blob/c0ffee/calc/x.py)")
    assert '<a href="https://example.com/">example.com</a>' in out
    assert '<a href="/src/calc/x.py" class="cite">calc/x.py</a>' in out  # a forge link to the file: the source view
    assert out.count('class="forge"') == 1  # and our forge link beside it
