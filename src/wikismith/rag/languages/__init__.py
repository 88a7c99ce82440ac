"""One extractor per language family, registered by the language names of `codemap_parse.SUFFIXES`. Adding a
language is one module here and its grammar wheel; nothing else changes."""

from wikismith.rag.codemap_parse import ExtractorFactory
from wikismith.rag.languages.go import GoFacts
from wikismith.rag.languages.java import JavaFacts
from wikismith.rag.languages.javascript import ScriptFacts
from wikismith.rag.languages.python import PythonFacts
from wikismith.rag.languages.rust import RustFacts

EXTRACTORS: dict[str, ExtractorFactory] = {
    "python": PythonFacts,
    "javascript": ScriptFacts,
    "typescript": ScriptFacts,
    "tsx": ScriptFacts,
    "go": GoFacts,
    "rust": RustFacts,
    "java": JavaFacts,
}
