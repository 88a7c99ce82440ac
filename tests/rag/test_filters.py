"""File filters: DeepWiki's repo.json semantics on paths relative to the repository root, with skip counts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.rag.conftest import write_tree
from wikismith.config.models import AppConfig
from wikismith.config.schemas import FileFilters
from wikismith.rag.filters import FileRules, merge_filters, parse_filter_list, rules_hash, scan


def rules(max_bytes: int = 1_000_000, **filters: list[str]) -> FileRules:
    return FileRules(merge_filters(FileFilters(), FileFilters(**filters)), max_bytes)


def test_patterns_are_matched_relative_to_the_repository_root(tmp_path: Path) -> None:
    # DeepWiki bug: a checkout under .../build/ or .../tmp/ had every file excluded.
    root = write_tree(tmp_path / "tmp" / "build" / "repo", {"src/a.py": "x = 1\n", "build/out.py": "y = 2\n"})
    report = scan(root, rules(excluded_dirs=["build", "tmp"]))
    assert report.kept == ("src/a.py",)
    assert report.skipped == {"excluded_dir": 1}


def test_deepwiki_style_dir_entries_are_cleaned_not_stripped(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "r", {"git/keep.py": "a\n", ".venv/lib.py": "b\n", "node_modules/x.js": "c\n"})
    report = scan(root, rules(excluded_dirs=["./.venv/", "./node_modules/"]))
    assert report.kept == ("git/keep.py",)
    assert report.skipped == {"excluded_dir": 2}


def test_wildcard_file_patterns_match(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "r", {"web/app.js": "a\n", "web/app.min.js": "b\n", "yarn.lock": "c\n"})
    report = scan(root, rules(excluded_files=["*.min.js", "yarn.lock"]))
    assert report.kept == ("web/app.js",)
    assert report.skipped == {"excluded_file": 2}


def test_a_pattern_with_a_slash_matches_the_relative_path(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "r", {"src/gen/a.py": "a\n", "lib/gen/b.py": "b\n", "src/c.py": "c\n"})
    report = scan(root, rules(excluded_dirs=["src/gen"]))
    assert report.kept == ("lib/gen/b.py", "src/c.py")


def test_inclusion_mode_keeps_only_included_dirs_and_files_and_ignores_exclusions(tmp_path: Path) -> None:
    files = {"src/a.py": "a\n", "src/b.md": "b\n", "tests/t.py": "t\n", "README.md": "r\n", "docs/x.txt": "x\n"}
    root = write_tree(tmp_path / "r", files)
    report = scan(root, rules(included_dirs=["src"], included_files=["README.md"], excluded_files=["*.md"]))
    assert report.kept == ("README.md", "src/a.py", "src/b.md")
    assert report.skipped == {"not_included": 2}


def test_included_files_accept_a_bare_suffix_as_deepwiki_does(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "r", {"a.py": "a\n", "b.rs": "b\n", "c/d.py": "d\n"})
    assert scan(root, rules(included_files=[".py"])).kept == ("a.py", "c/d.py")


def test_gitignore_files_are_respected_including_nested_ones(tmp_path: Path) -> None:
    files = {
        ".gitignore": "*.log\nsecret/\n",
        "app.py": "a\n",
        "debug.log": "x\n",
        "secret/key.txt": "k\n",
        "pkg/.gitignore": "generated.py\n",
        "pkg/generated.py": "g\n",
        "pkg/real.py": "r\n",
    }
    report = scan(write_tree(tmp_path / "r", files), rules())
    assert report.kept == (".gitignore", "app.py", "pkg/.gitignore", "pkg/real.py")
    assert report.skipped == {"gitignored": 3}


def test_a_deeper_gitignore_decides_over_a_shallower_one_as_git_does(tmp_path: Path) -> None:
    files = {
        ".gitignore": "*.log\n!important.log\n",
        "main.py": "m\n",
        "important.log": "i\n",
        "sub/.gitignore": "!keep.log\nimportant.log\n",
        "sub/keep.log": "k\n",
        "sub/drop.log": "d\n",
        "sub/important.log": "i\n",
        "sub/deeper/keep.log": "k\n",
    }
    root = write_tree(tmp_path / "r", files)
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True)
    listed = subprocess.run([*git, "ls-files", "-o", "--exclude-standard"], check=True, capture_output=True, text=True)
    kept = scan(root, rules()).kept
    assert kept == tuple(sorted(listed.stdout.split()))  # what git itself does not ignore
    assert kept == (".gitignore", "important.log", "main.py", "sub/.gitignore", "sub/deeper/keep.log", "sub/keep.log")


def test_binary_empty_and_oversize_files_are_skipped_and_counted(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "ok.py": "print(1)\n",
        "blob.dat": b"\x00\x01\x02binary",
        "empty.txt": "",
        "huge.txt": "x" * 5000,
    }
    report = scan(write_tree(tmp_path / "r", files), rules(max_bytes=1000))
    assert report.kept == ("ok.py",)
    assert report.skipped == {"binary": 1, "empty": 1, "too_large": 1}


def test_text_files_of_any_language_are_kept(tmp_path: Path) -> None:
    names = ["a.rb", "b.kt", "c.sh", "Dockerfile", "d.toml", "e.sql", "f.ex", "g.zig", "Makefile"]
    root = write_tree(tmp_path / "r", {n: "code\n" for n in names})
    assert set(scan(root, rules()).kept) == set(names)


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s\n"})
    root = write_tree(tmp_path / "r", {"a.py": "a\n"})
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    report = scan(root, rules())
    assert report.kept == ("a.py",)
    assert report.skipped == {"symlink": 2}


def test_request_fields_are_newline_separated_and_url_decoded() -> None:
    assert parse_filter_list("tests\nbuild%2Fout\n./docs/\n\n") == ["tests", "build/out", "docs"]
    assert parse_filter_list(None) == []


def test_config_filters_and_request_overrides_are_merged(tmp_path: Path, make_config: Callable[..., AppConfig]) -> None:
    config = make_config(file_filters={"excluded_dirs": ["vendor"], "excluded_files": []})
    root = write_tree(tmp_path / "r", {"vendor/v.py": "v\n", "tests/t.py": "t\n", "src/s.py": "s\n"})
    from wikismith.rag.filters import effective_rules

    report = scan(root, effective_rules(config, FileFilters(excluded_dirs=["tests"])))
    assert report.kept == ("src/s.py",)


def test_the_rules_hash_changes_with_the_filters() -> None:
    assert rules_hash(rules(excluded_dirs=["a"])) != rules_hash(rules(excluded_dirs=["b"]))
    assert rules_hash(rules(excluded_dirs=["a"])) == rules_hash(rules(excluded_dirs=["./a/"]))
