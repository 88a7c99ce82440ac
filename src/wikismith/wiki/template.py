"""Prompt templates: Markdown files in `prompts/` (package data) with `{{name}}` placeholders."""

from __future__ import annotations

import functools
import re
from importlib import resources

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@functools.cache
def load(name: str) -> str:
    """The text of `prompts/<name>.md`."""
    return resources.files("wikismith.wiki").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """`prompts/<name>.md` with every `{{key}}` replaced; a placeholder without a value is a KeyError, so a
    template and its caller cannot drift apart silently. Values are inserted as they are (no re-expansion)."""
    text = load(name)

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(substitute, text).strip() + "\n"
