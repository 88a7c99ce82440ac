"""A wiki page's Markdown as HTML: tables, highlighted code, math, Mermaid diagrams, and links made useful.

    page = render_markdown(text, links)      # links: how page ids, citations and files become URLs
    page.html, page.toc, page.diagrams

markdown-it-py (CommonMark with tables and strikethrough), Pygments for code (CSS classes; `highlight_css()`
gives the light and dark styles), dollar math as MathML, headings (h2, h3) with ids for the table of contents.
A ```mermaid fence becomes a `<figure class="diagram">` holding its source as text: the browser draws it (and
shows the source with the error when it cannot), and the source is what a reader without JavaScript sees.

Links: `[x](#page-id)` goes to that page of the wiki; a citation (`[path:12-30]()`, or a link whose text is a
repository path and whose target is empty, a `file://` URI or a forge link) goes to the source view at those
lines, with the forge link beside it when the repository is hosted. Raw HTML is cut down to an allowlist
(`markup`); `javascript:` and other unsafe link targets are not links at all (markdown-it's validation).
"""

from __future__ import annotations

import functools
import html
import re
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

from wikismith.server.web.markup import clean_html, mathml

_CITATION = re.compile(r"(?P<path>[^\s:\[\]()]+?)(?::(?P<start>\d+)(?:\s*[-–]\s*(?P<end>\d+))?)?")
_SAFE_SCHEMES = ("http://", "https://", "mailto:", "file://")
_MAX_HIGHLIGHT = 200_000  # characters; a bigger block is shown plain (Pygments is linear but not free)


class Links(Protocol):
    """How a page's references become URLs (the reader knows the wiki, its repository and its pages)."""

    def page(self, page_id: str) -> str | None:
        """The URL of this wiki's page `page_id`, or None when the wiki has no such page."""

    def source(self, path: str, start: int | None, end: int | None) -> tuple[str, str | None] | None:
        """(source view URL, forge URL or None) of a repository file, or None when `path` is not one."""

    def file_uri(self, uri: str) -> str | None:
        """The repository path of a `file://` URI inside the repository, or None."""


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    toc: tuple[Heading, ...]
    diagrams: int


def _validate_link(url: str) -> bool:
    lowered = url.strip().lower()
    return not re.match(r"[a-z][a-z0-9+.-]*:", lowered) or lowered.startswith(_SAFE_SCHEMES)


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = _validate_link  # type: ignore[method-assign]
    dollarmath_plugin(md, allow_space=False, allow_digits=False, double_inline=True)
    anchors_plugin(md, min_level=2, max_level=3, slug_func=_slug)
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _code_block)
    md.add_render_rule("html_block", lambda self, tokens, idx, options, env: clean_html(tokens[idx].content))
    md.add_render_rule("html_inline", lambda self, tokens, idx, options, env: clean_html(tokens[idx].content))
    md.add_render_rule("math_inline", _math(block=False))
    md.add_render_rule("math_inline_double", _math(block=True))
    md.add_render_rule("math_block", _math(block=True))
    md.add_render_rule("math_block_label", _math(block=True))
    return md


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.strip().lower()).strip("-") or "section"


def render_markdown(text: str, links: Links | None = None) -> Rendered:
    """The page as HTML (safe to insert as it is), its h2/h3 headings, and how many diagrams it has."""
    md = _parser()
    env: dict[str, Any] = {"diagrams": 0}
    tokens = md.parse(text, env)
    toc = _headings(tokens)
    if links is not None:
        for token in tokens:
            if token.type == "inline" and token.children:
                token.children = _linked(token.children, links)
    body = md.renderer.render(tokens, md.options, env)
    return Rendered(body, toc, int(env["diagrams"]))


class RenderCache:
    """The last `size` pages rendered, by what they depend on (the text and where its links point), so a page
    read again costs a lookup: rendering a 7 KB page takes a few milliseconds."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[Hashable, str], Rendered] = OrderedDict()

    def render(self, text: str, links: Links, context: Hashable) -> Rendered:
        key = (context, text)
        found = self._pages.get(key)
        if found is None:
            found = self._pages[key] = render_markdown(text, links)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(key)
        return found


def _headings(tokens: Sequence[Token]) -> tuple[Heading, ...]:
    found = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.attrGet("id"):
            inline = tokens[i + 1]
            words = "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))
            found.append(Heading(int(token.tag[1]), str(token.attrGet("id")), words or inline.content))
    return tuple(found)


# --- links ---------------------------------------------------------------------------------------------------


def _linked(children: list[Token], links: Links) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(children):
        token = children[i]
        out.append(token)
        if token.type == "link_open":
            end = next((j for j in range(i + 1, len(children)) if children[j].type == "link_close"), None)
            if end is not None:
                label = "".join(c.content for c in children[i + 1 : end])
                forge = _relink(token, label, links)
                out.extend(children[i + 1 : end + 1])
                if forge:
                    out.extend(_forge_link(forge))
                i = end
        i += 1
    return out


def _relink(token: Token, label: str, links: Links) -> str | None:
    """Point `token` (a link_open) where it is useful; the forge URL to put beside a citation, if any."""
    href = str(token.attrGet("href") or "")
    if href.startswith("#"):
        url = links.page(href[1:])
        if url is not None:
            token.attrSet("href", url)
        return None
    cited = _CITATION.fullmatch(label.strip())
    if cited is None:
        return None
    path = cited.group("path")
    if href.startswith("file://"):
        path = links.file_uri(href) or ""
    elif href.startswith(("http://", "https://")) and not _names_file(href, path):
        return None  # an ordinary link whose text happens to look like a path
    elif href and not href.startswith(("http://", "https://")):
        return None
    if not path:
        return None
    start = int(cited.group("start")) if cited.group("start") else None
    end = int(cited.group("end")) if cited.group("end") else start
    found = links.source(path, start, end)
    if found is None:
        return None
    view, forge = found
    token.attrSet("href", view)
    token.attrSet("class", "cite")
    return forge if forge and forge != href else (href if href.startswith("http") else None)


def _names_file(href: str, path: str) -> bool:
    """`href` is a forge's link to the file `path` (`…/blob/<rev>/<path>`, `…/-/blob/…`, `…/src/<rev>/<path>`)."""
    target = unquote(urlsplit(href).path)
    return any(marker in target for marker in ("/blob/", "/src/")) and target.endswith("/" + path)


def _forge_link(url: str) -> list[Token]:
    opening = Token("link_open", "a", 1, attrs={"href": url, "class": "forge", "title": "at the commit, on its forge"})
    text = Token("text", "", 0, content="↗")
    return [Token("text", "", 0, content=" "), opening, text, Token("link_close", "a", -1)]


# --- blocks --------------------------------------------------------------------------------------------------


def _fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    language = (token.info or "").strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
    if language == "mermaid":
        env["diagrams"] = int(env.get("diagrams", 0)) + 1
        source = html.escape(token.content)
        return f'<figure class="diagram"><pre class="diagram-source">{source}</pre></figure>\n'
    return highlighted(token.content, language)


def _code_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    return highlighted(tokens[idx].content, "")


def highlighted(code: str, language: str, *, lexer_for: str | None = None) -> str:
    """`<pre class="hl"><code>` with Pygments' token classes (plain text for an unknown language)."""
    body = _pygments(code, language, lexer_for) if len(code) <= _MAX_HIGHLIGHT else html.escape(code)
    label = f' data-lang="{html.escape(language)}"' if language else ""
    return f'<pre class="hl"{label}><code>{body}</code></pre>\n'


def _pygments(code: str, language: str, filename: str | None) -> str:
    from pygments import highlight

    lexer = _lexer(language, filename)
    return html.escape(code) if lexer is None else str(highlight(code, lexer, _formatter()))


@functools.lru_cache(maxsize=256)
def _lexer(language: str, filename: str | None) -> Any:
    """Pygments' lexer for a fence's language (or a file name), None when it has none; lexers keep no state
    between calls, and looking one up scans Pygments' registry, so each is made once."""
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        if filename is not None:
            return get_lexer_for_filename(filename, stripnl=False, ensurenl=False)
        return get_lexer_by_name(language or "text", stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@functools.cache
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)  # building one costs ~2 ms (it derives its style table)


def _math(*, block: bool) -> Any:
    def rule(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
        source = tokens[idx].content
        try:
            rendered = mathml(source, block=block)
        except ValueError as exc:
            return f'<code class="math-error" title="{html.escape(str(exc))}">{html.escape(source)}</code>'
        return f'<div class="math">{rendered}</div>\n' if block else rendered

    return rule


@functools.cache
def highlight_css() -> str:
    """Pygments' classes for the light theme, and for the dark one under `prefers-color-scheme: dark`."""
    from pygments.formatters import HtmlFormatter

    def rules(style: str) -> str:  # only the `.hl` rules: Pygments also styles every `pre` and line numbers
        css = HtmlFormatter(style=style).get_style_defs(".hl")
        return "\n".join(line for line in css.splitlines() if line.startswith(".hl"))

    return f"{rules('default')}\n@media (prefers-color-scheme: dark) {{\n{rules('monokai')}\n}}\n"
