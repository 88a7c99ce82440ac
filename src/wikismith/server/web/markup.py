"""What a page may carry besides Markdown: a short allowlist of HTML tags, and math as MathML.

Wiki pages are written by models and may be posted by anyone who can write the cache, so nothing in them is
trusted. Raw HTML in Markdown keeps only the tags generated pages use (`<details>`, `<summary>`, `<br>`, a few
inline ones, `<a id=...>` anchors), rebuilt here without attributes; everything else is shown as text. LaTeX
becomes MathML (`latex2mathml`), which browsers draw themselves (no script, no fonts to fetch); its output is
parsed and rebuilt from an allowlist of MathML elements and attributes, since the converter passes some input
through (`\\href{javascript:…}`, raw `<` in `\\text{}`).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

_TAG = re.compile(r"<!--.*?(?:-->|\Z)|<(/?)([A-Za-z][A-Za-z0-9]*)\b([^<>]*)>", re.DOTALL)
_PLAIN_TAGS = frozenset(
    {"details", "summary", "br", "sub", "sup", "kbd", "b", "i", "em", "strong", "code", "u", "s", "mark", "small"}
)
_ANCHOR_ID = re.compile(r"""\bid\s*=\s*["']?([A-Za-z0-9_.:-]{1,100})["']?""")
_VOID = frozenset({"br"})

_MATHML = "http://www.w3.org/1998/Math/MathML"
_MATH_TAGS = frozenset(
    [
        "math",
        "mrow",
        "mi",
        "mn",
        "mo",
        "ms",
        "mtext",
        "mspace",
        "msup",
        "msub",
        "msubsup",
        "mfrac",
        "msqrt",
        "mroot",
        "mstyle",
        "mtable",
        "mtr",
        "mtd",
        "mlabeledtr",
        "mover",
        "munder",
        "munderover",
        "mpadded",
        "mphantom",
        "menclose",
        "merror",
        "mmultiscripts",
        "mprescripts",
        "none",
        "semantics",
    ]
)
_MATH_ATTRS = frozenset(
    [
        "display",
        "mathvariant",
        "displaystyle",
        "scriptlevel",
        "stretchy",
        "fence",
        "separator",
        "lspace",
        "rspace",
        "columnalign",
        "rowalign",
        "rowspacing",
        "columnspacing",
        "columnlines",
        "rowlines",
        "frame",
        "width",
        "height",
        "depth",
        "linethickness",
        "accent",
        "accentunder",
        "form",
        "movablelimits",
        "largeop",
        "symmetric",
        "notation",
        "minsize",
        "maxsize",
        "mathcolor",
        "mathbackground",
    ]
)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9 .#%+-]{0,40}")


def clean_html(raw: str) -> str:
    """`raw` HTML with only allowlisted tags kept (rebuilt, attribute-free but for `<a id>` and `<details
    open>`); all text escaped; comments dropped; every other tag shown as text."""
    out: list[str] = []
    at = 0
    for match in _TAG.finditer(raw):
        out.append(_text(raw[at : match.start()]))
        at = match.end()
        if match.group(0).startswith("<!--"):
            continue
        out.append(_tag(match.group(1), match.group(2).lower(), match.group(3)) or _text(match.group(0)))
    out.append(_text(raw[at:]))
    return "".join(out)


def _text(text: str) -> str:
    return html.escape(html.unescape(text), quote=False)


def _tag(slash: str, name: str, attrs: str) -> str | None:
    if name in _PLAIN_TAGS:
        if slash and name in _VOID:
            return ""
        extra = " open" if name == "details" and not slash and re.search(r"\bopen\b", attrs) else ""
        return f"<{slash}{name}{extra}>"
    if name == "a":
        if slash:
            return "</a>"
        anchor = _ANCHOR_ID.search(attrs)
        return f'<a id="{anchor.group(1)}">' if anchor and "href" not in attrs.lower() else None
    return None


def mathml(latex: str, *, block: bool) -> str:
    """`latex` as MathML; ValueError when it cannot be converted into something safe to show."""
    from latex2mathml.converter import convert

    try:
        converted = convert(latex, display="block" if block else "inline")
        root = ET.fromstring(converted)
    except Exception as exc:  # the converter raises a zoo of its own errors on bad input
        raise ValueError(f"cannot typeset this formula: {exc}") from None
    return ET.tostring(_rebuilt(root), encoding="unicode", short_empty_elements=False)


def _rebuilt(element: ET.Element) -> ET.Element:
    name = element.tag.removeprefix("{" + _MATHML + "}")
    if name not in _MATH_TAGS:
        raise ValueError(f"the formula holds <{name}>, which is not MathML")
    clean = ET.Element(name)
    if name == "math":
        clean.set("xmlns", _MATHML)
    for key, value in element.attrib.items():
        if key in _MATH_ATTRS and _SAFE_VALUE.fullmatch(value):
            clean.set(key, value)
    clean.text = element.text
    for child in element:
        rebuilt = _rebuilt(child)
        rebuilt.tail = child.tail
        clean.append(rebuilt)
    return clean
