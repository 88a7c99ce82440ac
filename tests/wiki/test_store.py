"""The wiki cache: DeepWiki's WikiCacheData shape on disk, safe names, no tokens, listing and export formats."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from wikismith.wiki.store import (
    RepoInfo,
    WikiCacheData,
    WikiPage,
    WikiStore,
    WikiStructure,
    export_filename,
    export_json,
    export_markdown,
)

PAGE = WikiPage(id="page-1", title="Overview", content="# Overview", filePaths=["a.py"], relatedPages=["page-2"])
PAGE2 = WikiPage(id="page-2", title="Usage", content="# Usage", filePaths=[], importance="low")


def cache(owner: str = "o", repo: str = "r", token: str | None = None) -> WikiCacheData:
    structure = WikiStructure(title="T", description="D", pages=[PAGE.model_copy(update={"content": ""}), PAGE2])
    return WikiCacheData(
        wiki_structure=structure,
        generated_pages={"page-1": PAGE, "page-2": PAGE2},
        repo=RepoInfo(owner=owner, repo=repo, type="github", token=token, repoUrl=f"https://github.com/{owner}/{repo}"),
        provider="openrouter",
        model="openai/gpt-4o",
    )


def test_put_writes_deepwiki_file_name_and_camel_case_keys(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    path = store.put("o", "r", "github", "en", cache())
    assert path.name == "deepwiki_cache_github_o_r_en.json"
    raw = json.loads(path.read_text())
    assert set(raw) == {"wiki_structure", "generated_pages", "repo_url", "repo", "provider", "model", "comprehensive"}
    assert raw["comprehensive"] is True
    assert raw["wiki_structure"]["pages"][0]["filePaths"] == ["a.py"]
    assert raw["generated_pages"]["page-1"]["relatedPages"] == ["page-2"]
    assert "rootSections" in raw["wiki_structure"]
    assert raw["repo"]["repoUrl"] == "https://github.com/o/r"


def test_get_returns_what_was_put(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("o", "r", "github", "en", cache())
    got = store.get("o", "r", "github", "en")
    assert got is not None
    assert got.generated_pages["page-1"].content == "# Overview"
    assert store.get("o", "r", "github", "ja") is None


def test_token_is_never_written_or_returned(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    path = store.put("o", "r", "github", "en", cache(token="ghp_secretsecret123"))
    assert "ghp_secretsecret123" not in path.read_text()
    got = store.get("o", "r", "github", "en")
    assert got is not None and got.repo is not None and got.repo.token is None


def test_hostile_names_stay_inside_the_cache_directory(tmp_path: Path) -> None:
    store = WikiStore(tmp_path / "cache")
    path = store.put("../../etc", "x/../../y", "git/hub", "en", cache("../../etc", "x/../../y"))
    assert path.parent == tmp_path / "cache"
    assert store.get("../../etc", "x/../../y", "git/hub", "en") is not None


def test_a_file_recorded_for_another_repository_is_a_miss(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("a_b", "c", "github", "en", cache("a_b", "c"))
    assert store.get("a", "b_c", "github", "en") is None
    assert store.files_for("a", "b_c", "github") == []


def test_delete_removes_one_language_only(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("o", "r", "github", "en", cache())
    store.put("o", "r", "github", "ja", cache())
    assert store.delete("o", "r", "github", "en") is True
    assert store.delete("o", "r", "github", "en") is False
    assert store.get("o", "r", "github", "ja") is not None


def test_files_for_matches_exactly_not_by_substring(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("o", "r", "github", "en", cache())
    store.put("o", "r", "github", "zh-tw", cache())
    store.put("xo", "rr", "github", "en", cache("xo", "rr"))
    store.put("o", "r2", "github", "en", cache("o", "r2"))
    names = [p.name for p in store.files_for("o", "r", "github")]
    assert names == ["deepwiki_cache_github_o_r_en.json", "deepwiki_cache_github_o_r_zh-tw.json"]


def test_list_projects_reads_owner_with_underscore_from_the_file(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("my_org", "repo", "gitlab", "fr", cache("my_org", "repo"))
    (tmp_path / "deepwiki_cache_github_broken_en.json").write_text("{not json")
    [project] = store.list_projects()
    dumped = project.model_dump(by_alias=True)
    assert dumped["name"] == "my_org/repo"
    assert dumped["repo_type"] == "gitlab"
    assert dumped["language"] == "fr"
    assert dumped["id"] == "deepwiki_cache_gitlab_my_org_repo_fr.json"
    assert dumped["submittedAt"] > 0


def test_concise_and_comprehensive_wikis_coexist(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    full = store.put("o", "r", "github", "en", cache(), comprehensive=True)
    short = store.put("o", "r", "github", "en", cache().model_copy(update={"provider": "short"}), comprehensive=False)
    assert (full.name, short.name) == ("deepwiki_cache_github_o_r_en.json", "deepwiki_cache_github_o_r_en_concise.json")
    concise = store.get("o", "r", "github", "en", comprehensive=False)
    comprehensive = store.get("o", "r", "github", "en", comprehensive=True)
    assert concise is not None and concise.provider == "short" and concise.comprehensive is False
    assert comprehensive is not None and comprehensive.provider == "openrouter" and comprehensive.comprehensive
    either = store.get("o", "r", "github", "en")
    assert either is not None and either.comprehensive is True  # no variant asked: comprehensive first


def test_get_without_variant_falls_back_to_concise(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("o", "r", "github", "en", cache().model_copy(update={"comprehensive": False}))
    assert store.get("o", "r", "github", "en", comprehensive=True) is None
    got = store.get("o", "r", "github", "en")
    assert got is not None and got.comprehensive is False


def test_a_legacy_file_without_variant_is_the_comprehensive_wiki(tmp_path: Path) -> None:
    raw = json.loads(cache().to_json())
    del raw["comprehensive"]
    (tmp_path / "deepwiki_cache_github_o_r_en.json").write_text(json.dumps(raw))
    got = WikiStore(tmp_path).get("o", "r", "github", "en", comprehensive=True)
    assert got is not None and got.comprehensive is True


def test_delete_one_variant_or_both(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("o", "r", "github", "en", cache(), comprehensive=True)
    store.put("o", "r", "github", "en", cache(), comprehensive=False)
    assert store.delete("o", "r", "github", "en", comprehensive=False) is True
    assert store.get("o", "r", "github", "en", comprehensive=False) is None
    assert store.get("o", "r", "github", "en", comprehensive=True) is not None
    store.put("o", "r", "github", "en", cache(), comprehensive=False)
    assert store.delete("o", "r", "github", "en") is True
    assert list(tmp_path.iterdir()) == []


def test_both_variants_are_one_listed_entry_and_found_for_removal(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("my_org", "r", "github", "zh-tw", cache("my_org", "r"), comprehensive=False)
    store.put("my_org", "r", "github", "zh-tw", cache("my_org", "r"), comprehensive=True)
    (project,) = store.list_projects()
    assert (project.name, project.language, project.comprehensive) == ("my_org/r", "zh-tw", True)
    assert project.variants == ["comprehensive", "concise"]
    assert project.id == "deepwiki_cache_github_my_org_r_zh-tw.json"
    assert len(store.files_for("my_org", "r", "github")) == 2


def test_find_answers_the_variant_asked_for_else_the_other(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    store.put("o", "r", "github", "en", cache().model_copy(update={"provider": "short"}), comprehensive=False)
    for asked in (True, False, None):
        found = store.find("o", "r", "github", "en", asked)
        assert found is not None and found.provider == "short" and found.comprehensive is False
    store.put("o", "r", "github", "en", cache(), comprehensive=True)
    assert [store.find("o", "r", "github", "en", asked).comprehensive for asked in (True, False, None)] == [  # type: ignore[union-attr]
        True, False, True
    ]  # fmt: skip
    assert store.find("x", "r", "github", "en", True) is None


def test_list_projects_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert WikiStore(tmp_path / "none").list_projects() == []


def test_export_markdown_has_deepwiki_layout() -> None:
    text = export_markdown("https://github.com/o/r", [PAGE, PAGE2], now=datetime(2026, 1, 2, 3, 4, 5))
    assert text.startswith("# Wiki Documentation for https://github.com/o/r\n")
    assert "Generated on: 2026-01-02 03:04:05" in text
    assert "## Table of Contents\n\n- [Overview](#page-1)\n- [Usage](#page-2)" in text
    assert "<a id='page-1'></a>\n\n## Overview" in text
    assert "### Related Pages\n\nRelated topics: [Usage](#page-2)" in text
    assert text.count("---") == 2


def test_export_json_has_metadata_and_camel_case_pages() -> None:
    data = json.loads(export_json("https://github.com/o/r", [PAGE]))
    assert data["metadata"]["repository"] == "https://github.com/o/r"
    assert data["metadata"]["page_count"] == 1
    assert data["pages"][0]["filePaths"] == ["a.py"]


def test_export_filename_uses_last_url_segment() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5)
    assert export_filename("https://github.com/o/r/", "markdown", when) == "r_wiki_20260102_030405.md"
    assert export_filename("https://github.com/o/r", "json", when) == "r_wiki_20260102_030405.json"


def test_names_deepwiki_cannot_tell_apart_are_separate_wikis(tmp_path: Path) -> None:
    """`a_b/c` and `a/b_c` share DeepWiki's file name: the second is stored under a digest name, and neither
    one's save, read or delete touches the other's wiki."""
    store = WikiStore(tmp_path)
    first = store.put("a_b", "c", "github", "en", cache("a_b", "c"))
    second = store.put("a", "b_c", "github", "en", cache("a", "b_c").model_copy(update={"provider": "other"}))
    assert first.name == "deepwiki_cache_github_a_b_c_en.json" and second != first
    got_first, got_second = store.get("a_b", "c", "github", "en"), store.get("a", "b_c", "github", "en")
    assert got_first is not None and got_first.provider == "openrouter"
    assert got_second is not None and got_second.provider == "other"
    assert store.files_for("a", "b_c", "github") == [second]
    assert store.delete("a", "b_c", "github", "en") is True
    assert store.get("a_b", "c", "github", "en") is not None and not second.exists()
    assert store.delete("a", "b_c", "github", "en") is False


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("foo", "bar"), ("foo.", "bar")),  # safe_name strips the dot: the same cleaned name
        (("日本", "r"), ("中文", "r")),  # both clean to `_`
        (("o" * 120, "r" * 120), ("o" * 120, "r" * 120 + "x")),  # the same first 200 characters
    ],
)
def test_keys_that_clean_to_the_same_name_never_share_a_file(
    tmp_path: Path, one: tuple[str, str], other: tuple[str, str]
) -> None:
    store = WikiStore(tmp_path)
    path_one = store.put(*one, "github", "en", cache(*one))
    path_other = store.put(*other, "github", "en", cache(*other).model_copy(update={"provider": "other"}))
    assert path_one != path_other and path_one.parent == path_other.parent == tmp_path
    got = store.get(*one, "github", "en")
    assert got is not None and got.provider == "openrouter"
    assert store.delete(*other, "github", "en") is True
    assert store.get(*one, "github", "en") is not None
    assert store.get(*other, "github", "en") is None


def test_a_long_name_keeps_its_language(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    owner, repo = "o" * 120, "r" * 120
    store.put(owner, repo, "github", "en", cache(owner, repo))
    store.put(owner, repo, "github", "ja", cache(owner, repo).model_copy(update={"provider": "ja-model"}))
    got = store.get(owner, repo, "github", "en")
    assert got is not None and got.provider == "openrouter"
    assert sorted(p.language for p in store.list_projects()) == ["en", "ja"]
    assert len(store.files_for(owner, repo, "github")) == 2
    assert all(len(p.name) < 255 for p in tmp_path.iterdir())


def test_credentials_in_repository_urls_are_never_written_or_returned(tmp_path: Path) -> None:
    store = WikiStore(tmp_path)
    data = cache().model_copy(update={"repo_url": "https://x:glpat-SECRETSECRET123@gitlab.com/o/r?token=abc123456"})
    assert data.repo is not None
    data.repo.repo_url = "https://oauth2:glpat-SECRETSECRET123@gitlab.com/o/r"
    path = store.put("o", "r", "gitlab", "en", data)
    text = path.read_text()
    assert "SECRETSECRET" not in text and "abc123456" not in text
    got = store.get("o", "r", "gitlab", "en")
    assert got is not None and got.repo is not None
    assert got.repo.repo_url == "https://gitlab.com/o/r"
    assert got.repo_url is not None and got.repo_url.startswith("https://gitlab.com/o/r?token=")


def test_files_for_a_location_skips_a_namesake_elsewhere(tmp_path: Path) -> None:
    """`wikismith remove ./a/proj` must not take the cached wiki of `./b/proj`, nor github's that of another host."""
    store = WikiStore(tmp_path)
    local = cache("local", "proj")
    assert local.repo is not None
    local.repo.repo_url, local.repo.local_path = None, "/work/b/proj"
    store.put("local", "proj", "local", "en", local)
    assert store.files_for("local", "proj", "local", "/work/a/proj") == []
    assert len(store.files_for("local", "proj", "local", "/work/b/proj/")) == 1
    store.put("owner", "name", "github", "en", cache("owner", "name"))  # records https://github.com/owner/name
    assert store.files_for("owner", "name", "github", "http://127.0.0.1:18240/owner/name") == []
    assert len(store.files_for("owner", "name", "github", "https://github.com/owner/name.git")) == 1
    assert len(store.files_for("owner", "name", "github")) == 1
