"""The whole pipeline with the embedded local model (SmolLM2-135M via llama.cpp) on examples/tinycalc, offline.

The model is tiny: its structure XML is usually unusable and its prose is poor. What is checked is that the
pipeline stays sound around it: a structure (the model's or the logged fallback from the code map), every page
written in DeepWiki's shape around the code's facts (modules, derived diagrams, key symbols), no identifier
named on any page that is not in the code, every citation left in a page true, the outputs and the manifest
complete, with the identifier counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.embedders import HashEmbedder
from wikismith.config.models import load_config
from wikismith.config.settings import Settings
from wikismith.rag.identifiers import Resolver, find_mentions
from wikismith.rag.types import Chunk
from wikismith.router import Router
from wikismith.wiki.citations import RepoFiles, check_citations
from wikismith.wiki.generator import WikiOptions, concurrency_for, context_budget, generate_wiki, prepare_repo
from wikismith.wiki.store import WikiCacheData

TINYCALC = Path(__file__).resolve().parents[2] / "examples" / "tinycalc"
LOCAL = {
    "default_provider": "local",
    "providers": {
        "local": {
            "client_class": "LocalClient",
            "default_model": "smollm2",
            "limits": {"max_concurrent": 1},
            "models": {
                "smollm2": {
                    "temperature": 0.2,
                    "max_tokens": 160,
                    "num_ctx": 4096,
                    "frequency_penalty": 1.0,
                    "presence_penalty": 0.5,
                }
            },
        }
    },
}


@pytest.mark.slow
async def test_local_model_wiki_for_tinycalc_is_complete_and_sound(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "generator.json").write_text(json.dumps(LOCAL))
    config = load_config(tmp_path / "config", {})
    settings = Settings.from_env({"WIKISMITH_HOME": str(tmp_path / "home")})
    repo = await prepare_repo(settings, config, str(TINYCALC), embedder=HashEmbedder())
    name = "local/smollm2"
    options = WikiOptions(
        model=name, concurrency=concurrency_for(config, name, 4), context_chars=context_budget(config, name)
    )
    assert options.concurrency == 1
    router = Router(config)
    try:
        summary = await generate_wiki(router, repo, tmp_path / "out", options, language_name="English")
    finally:
        await router.aclose()
    assert summary.exit_code == 0, summary.failed
    assert summary.tally.calls >= summary.total + 1
    out = tmp_path / "out"
    data = WikiCacheData.model_validate_json((out / "wiki.json").read_text())
    assert len(data.generated_pages) == summary.total >= 1
    files = RepoFiles(TINYCALC, repo.files)
    assert repo.codemap is not None
    resolver = Resolver(repo.codemap, repo.files, TINYCALC)
    for page in data.wiki_structure.pages:
        assert set(page.file_paths) <= set(repo.files)
        content = data.generated_pages[page.id].content
        assert content.startswith("<details>\n<summary>Relevant source files</summary>")
        assert "\n# " in content
        _, report = check_citations(content, files, [Chunk("-", 1, 1, "")])
        assert report.checked == report.valid  # nothing left to correct: every citation is true
        named = [m.name for m in find_mentions(content, resolver.roots)]
        assert named and all(resolver.resolve(n).status == "resolved" for n in named), named
        assert "## Key symbols" in content and "derived from the code map" in content
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p["status"] for p in manifest["pages"].values()} == {"done"}
    assert manifest["identifiers"]["named"] == summary.identifiers.named > 0
    assert data.identifiers == manifest["identifiers"] and summary.diagrams_derived > 0
    assert summary.structure_source == "model" or "Lexer and parser" in [p.title for p in data.wiki_structure.pages]
    assert (out / "README.md").read_text().startswith("# ")
