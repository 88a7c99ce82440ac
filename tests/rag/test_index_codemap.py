"""The index carries the code map: built and stored with it, updated with it, loaded with it; its chunks
follow symbols; an index chunked the old way is rebuilt once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.rag.conftest import SAMPLE, write_tree
from tests.support.embedders import HashEmbedder
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.rag import build_index, load_index, open_repo
from wikismith.rag.codemap import FILE_NAME, CodeMap

CLASSY = "class Mailer:\n    def send(self, to):\n        return to\n\n    def close(self):\n        return None\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", {**SAMPLE, "src/classy.py": CLASSY})


async def test_an_index_exposes_its_code_map_and_stores_it_beside_its_manifest(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snapshot = await open_repo(str(repo), settings, config)
    index = await build_index(snapshot, settings, config, embedder=embedder)
    assert index.codemap is not None
    assert [s.qualname for s in index.codemap.symbols_in("src/mailer.py")] == ["", "send_email"]
    assert set(index.codemap.files) == set(index.files)
    version = settings.data.indexes / index.key / (settings.data.indexes / index.key / "CURRENT").read_text()
    assert sorted(p.name for p in version.iterdir()) == ["chunks.json", FILE_NAME, "index.faiss", "manifest.json"]
    loaded = await load_index(snapshot, settings, config, embedder=embedder)
    assert loaded is not None and loaded.codemap == CodeMap.load(version) and loaded.codemap is not None
    assert loaded.codemap.files == index.codemap.files


async def test_chunks_carry_the_symbol_path_they_are_in(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    index = await build_index(await open_repo(str(repo), settings, config), settings, config, embedder=embedder)
    symbols = {(c.path, c.start_line, c.end_line): c.symbol for c in index.chunks}
    assert symbols[("src/mailer.py", 1, 3)] == "src/mailer.py::send_email"
    assert symbols[("src/classy.py", 1, 6)] == "src/classy.py::Mailer"  # the class fits: one chunk
    assert symbols[("README.md", 1, 3)] == ""
    assert any(text.startswith("src/mailer.py::send_email\ndef send_email(") for text in embedder.embedded)
    loaded = await load_index(await open_repo(str(repo), settings, config), settings, config, embedder=embedder)
    assert loaded is not None and [c.symbol for c in loaded.chunks] == [c.symbol for c in index.chunks]


async def test_a_changed_file_updates_the_map_and_the_rest_is_reused(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snapshot = await open_repo(str(repo), settings, config)
    first = await build_index(snapshot, settings, config, embedder=embedder)
    (repo / "src/mailer.py").write_text("def deliver(to):\n    return to\n")
    second = await build_index(snapshot, settings, config, embedder=embedder, previous=first)
    assert first.codemap is not None and second.codemap is not None
    assert [s.qualname for s in second.codemap.symbols_in("src/mailer.py")] == ["", "deliver"]
    assert second.codemap.files["src/invoice.py"] is first.codemap.files["src/invoice.py"]


async def test_an_index_chunked_the_old_way_is_rebuilt_once(
    repo: Path, settings: Settings, config: AppConfig, embedder: HashEmbedder
) -> None:
    snapshot = await open_repo(str(repo), settings, config)
    index = await build_index(snapshot, settings, config, embedder=embedder)
    directory = settings.data.indexes / index.key
    version = directory / (directory / "CURRENT").read_text()
    manifest = orjson.loads((version / "manifest.json").read_bytes())
    del manifest["chunker"]  # as the line chunker before the code map wrote it
    (version / "manifest.json").write_bytes(orjson.dumps(manifest))
    (version / FILE_NAME).unlink()
    embedder.embedded.clear()
    rebuilt = await build_index(snapshot, settings, config, embedder=embedder)
    assert rebuilt.stats.files_embedded == len(rebuilt.files) and rebuilt.codemap is not None
    embedder.embedded.clear()
    again = await build_index(snapshot, settings, config, embedder=embedder)
    assert embedder.embedded == [] and again.codemap is not None
