"""Opening repositories: URL parsing, the safety policy, local roots, and clones over smart HTTP on 127.0.0.1
(git over file:// is refused by design) — with the token never reaching the disk."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.rag.conftest import write_tree
from tests.support.git_http import GitServer, commit, git, make_repo
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.rag import RepoAuthError, RepoNotFound, SourceError, UnknownRef, UnsafeSource, open_repo, repo_key
from wikismith.rag.source import auth_env, check_address, check_url_policy, classify, clone, parse_repo_url

TOKEN = "ghp_testtoken1234567890abcdef"


@pytest.mark.parametrize(
    ("url", "kind", "owner", "name", "clean"),
    [
        ("https://github.com/o/r", "github", "o", "r", "https://github.com/o/r"),
        ("https://github.com/o/r.git", "github", "o", "r", "https://github.com/o/r"),
        ("https://github.com/o/r/tree/dev/src", "github", "o", "r", "https://github.com/o/r"),
        ("https://gitlab.com/g/sub/deeper/r", "gitlab", "g/sub/deeper", "r", "https://gitlab.com/g/sub/deeper/r"),
        ("https://gitlab.com/g/sub/r/-/tree/main", "gitlab", "g/sub", "r", "https://gitlab.com/g/sub/r"),
        ("https://bitbucket.org/team/r.git", "bitbucket", "team", "r", "https://bitbucket.org/team/r"),
    ],
)
def test_forge_urls_are_parsed(url: str, kind: str, owner: str, name: str, clean: str) -> None:
    ref = parse_repo_url(url)
    assert (ref.type, ref.owner, ref.name, ref.url) == (kind, owner, name, clean)


def test_subgroups_of_different_parents_get_different_keys() -> None:
    a = repo_key(parse_repo_url("https://gitlab.com/a/sub/r"))
    b = repo_key(parse_repo_url("https://gitlab.com/b/sub/r"))
    assert a != b and "/" not in a


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("git@github.com:o/r.git", "SSH"),
        ("ssh://git@github.com/o/r", "SSH"),
        ("ftp://github.com/o/r", "https"),
        ("https://user:secret@github.com/o/r", "credentials"),
    ],
)
def test_unsafe_urls_are_refused_when_parsed(url: str, message: str) -> None:
    with pytest.raises(UnsafeSource, match=message):
        parse_repo_url(url)


async def test_file_urls_are_refused(settings: Settings, config: AppConfig) -> None:
    with pytest.raises(UnsafeSource, match="file://"):
        await open_repo("file:///etc", settings, config)


def test_hosts_not_in_the_config_and_plain_http_are_refused(config: AppConfig) -> None:
    with pytest.raises(UnsafeSource, match="not allowed"):
        check_url_policy(parse_repo_url("https://evil.example/o/r"), config)
    with pytest.raises(UnsafeSource, match="https"):
        check_url_policy(parse_repo_url("http://github.com/o/r"), config)


async def test_loopback_and_private_addresses_are_refused_unless_allowed(
    make_config: Callable[..., AppConfig],
) -> None:
    hosts = ["127.0.0.1", "10.1.2.3", "localhost"]
    strict = make_config(repository={"allowed_hosts": hosts})
    for host in hosts:
        ref = parse_repo_url(f"https://{host}/o/r")
        check_url_policy(ref, strict)
        with pytest.raises(UnsafeSource, match="non-public"):
            await check_address(ref, strict)
    relaxed = make_config(repository={"allowed_hosts": hosts, "allow_private_hosts": True})
    await check_address(parse_repo_url("https://127.0.0.1/o/r"), relaxed)
    check_url_policy(parse_repo_url("http://127.0.0.1:8080/o/r"), relaxed)


async def test_local_paths_outside_the_allowed_roots_are_refused(
    tmp_path: Path, settings: Settings, config: AppConfig
) -> None:
    allowed = write_tree(tmp_path / "allowed", {"repo/a.py": "a\n"})
    outside = write_tree(tmp_path / "outside", {"a.py": "a\n"})
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    snap = await open_repo(str(allowed / "repo"), settings, config, local_roots=[allowed])
    assert snap.root == (allowed / "repo").resolve() and snap.ref.type == "local"
    for path in (outside, allowed / "escape", allowed / "repo" / ".." / ".." / "outside"):
        with pytest.raises(UnsafeSource, match="outside"):
            await open_repo(str(path), settings, config, local_roots=[allowed])
    with pytest.raises(RepoNotFound):
        await open_repo(str(tmp_path / "missing"), settings, config)


async def test_a_local_path_that_cannot_be_resolved_is_not_found(settings: Settings, config: AppConfig) -> None:
    """`~user` of a user that does not exist makes `Path.expanduser` raise RuntimeError (found by schemathesis:
    the server answered 500); it is a path that does not exist, nothing more."""
    with pytest.raises(RepoNotFound, match="not found"):
        await open_repo("~no-such-user-4f1c/repo", settings, config)


# --- clones over HTTP ----------------------------------------------------------------------------------------


@pytest.fixture
def http_config(make_config: Callable[..., AppConfig]) -> AppConfig:
    return make_config(repository={"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GitServer, Path]]:
    root = tmp_path / "served"
    work = make_repo(root, "acme", "widgets", {"README.md": "# Widgets\n", "src/w.py": "def widget():\n    pass\n"})
    with GitServer(root, token=TOKEN) as server:
        yield server, work


def push(work: Path) -> None:
    git(work, "push", "-q", "origin", "HEAD:main")


def grep_tree(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_clone_with_a_token_never_writes_the_token_to_disk(
    served: tuple[GitServer, Path],
    settings: Settings,
    http_config: AppConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, work = served
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    snap = await open_repo(server.url("acme", "widgets"), settings, http_config, access_token=TOKEN)
    assert (snap.root / "src/w.py").read_text() == "def widget():\n    pass\n"
    assert snap.commit == git(work, "rev-parse", "HEAD").strip()
    assert snap.branch == "main"
    assert snap.root.is_relative_to(settings.home / "repos")
    assert server.authorizations, "the token was sent as an http.extraHeader"
    basic = server.authorizations[0].split(" ", 1)[1].encode()
    for place in (settings.home, user_home):
        assert grep_tree(place, TOKEN.encode()) == []
        assert grep_tree(place, basic) == []
    remote = subprocess.run(["git", "config", "--list"], cwd=snap.root, capture_output=True, text=True).stdout
    assert TOKEN not in remote and "extraheader" not in remote.lower()


async def test_a_bad_token_is_an_auth_error_and_no_token_is_not_found(
    served: tuple[GitServer, Path], settings: Settings, http_config: AppConfig
) -> None:
    server, _ = served
    with pytest.raises(RepoAuthError, match="access denied") as caught:
        await open_repo(server.url("acme", "widgets"), settings, http_config, access_token="wrong-token-123")
    assert "wrong-token-123" not in str(caught.value)
    with pytest.raises(RepoNotFound, match="access token"):
        await open_repo(server.url("acme", "widgets"), settings, http_config)


def test_the_status_is_read_from_gits_words_not_from_digits_in_the_url() -> None:
    """A port or path holding 401/403 is no auth failure (this made the redirect test fail on some ports)."""
    url = "'http://repo.invalid:40123/acme/widgets-403/'"
    redirected = classify(f"fatal: unable to access {url}: The requested URL returned error: 301", "clone")
    assert "redirects elsewhere" in str(redirected) and not isinstance(redirected, RepoAuthError)
    denied = classify(f"fatal: unable to access {url}: The requested URL returned error: 403", "clone")
    assert isinstance(denied, RepoAuthError)


async def test_a_missing_repository_is_not_found(tmp_path: Path, settings: Settings, http_config: AppConfig) -> None:
    (tmp_path / "empty").mkdir()
    with GitServer(tmp_path / "empty") as server, pytest.raises(RepoNotFound):
        await open_repo(server.url("nobody", "nothing"), settings, http_config)


async def test_branch_tag_and_commit_refs_are_checked_out(
    served: tuple[GitServer, Path], settings: Settings, http_config: AppConfig
) -> None:
    server, work = served
    first = git(work, "rev-parse", "HEAD").strip()
    git(work, "tag", "v1")
    git(work, "checkout", "-q", "-b", "dev")
    dev = commit(work, {"src/dev.py": "DEV = True\n"}, "dev work")
    git(work, "push", "-q", "origin", "dev", "v1")
    url = server.url("acme", "widgets")
    on_dev = await open_repo(url, settings, http_config, ref="dev", access_token=TOKEN)
    assert on_dev.commit == dev and (on_dev.root / "src/dev.py").exists()
    on_tag = await open_repo(url, settings, http_config, ref="v1", access_token=TOKEN)
    assert on_tag.commit == first and not (on_tag.root / "src/dev.py").exists()
    by_sha = await open_repo(url, settings, http_config, ref=dev, access_token=TOKEN)
    assert by_sha.commit == dev


async def test_an_unknown_ref_is_a_clear_error(
    served: tuple[GitServer, Path], settings: Settings, http_config: AppConfig
) -> None:
    server, _ = served
    with pytest.raises(UnknownRef, match="no-such-branch"):
        await open_repo(server.url("acme", "widgets"), settings, http_config, ref="no-such-branch", access_token=TOKEN)


async def test_an_existing_clone_is_fetched_not_reused_blindly(
    served: tuple[GitServer, Path], settings: Settings, http_config: AppConfig
) -> None:
    server, work = served
    url = server.url("acme", "widgets")
    before = await open_repo(url, settings, http_config, access_token=TOKEN)
    after_commit = commit(work, {"src/w.py": "def widget():\n    return 2\n"}, "second")
    push(work)
    (before.root / "stray.txt").write_text("left behind")
    after = await open_repo(url, settings, http_config, access_token=TOKEN)
    assert after.root == before.root
    assert after.commit == after_commit
    assert "return 2" in (after.root / "src/w.py").read_text()
    assert not (after.root / "stray.txt").exists()


async def test_ssh_and_non_repository_sources_give_clear_errors(settings: Settings, config: AppConfig) -> None:
    with pytest.raises(UnsafeSource, match="SSH"):
        await open_repo("git@github.com:o/r.git", settings, config)
    with pytest.raises(SourceError, match="no repository"):
        await open_repo("  ", settings, config)


def test_each_requested_ref_has_its_own_key() -> None:
    plain = repo_key(parse_repo_url("https://github.com/o/r"))
    dev = repo_key(parse_repo_url("https://github.com/o/r", ref="dev"))
    other = repo_key(parse_repo_url("https://github.com/o/r", ref="feature/x"))
    assert len({plain, dev, other}) == 3 and dev.startswith(plain) and "/" not in other


async def test_git_connects_only_to_the_addresses_that_were_checked(
    served: tuple[GitServer, Path], tmp_path: Path
) -> None:
    """Against DNS rebinding: git is told the checked addresses of the host (curl's resolve list), so it never
    looks the name up again. `repo.invalid` has no DNS answer at all: the clone works only through the pin."""
    server, work = served
    ref = parse_repo_url(f"http://repo.invalid:{server.port}/acme/widgets")
    with pytest.raises(SourceError):  # not pinned: git must resolve the name itself, and cannot
        await clone(ref, tmp_path / "unpinned", TOKEN)
    snap = await clone(ref, tmp_path / "pinned", TOKEN, pinned=["127.0.0.1"])
    assert snap.commit == git(work, "rev-parse", "HEAD").strip()
    assert "http.curloptResolve" in auth_env(ref, None, ["::1"]).values()
    assert f"repo.invalid:{server.port}:[::1]" in auth_env(ref, None, ["::1"]).values()


async def test_check_address_returns_what_it_checked_for_pinning(make_config: Callable[..., AppConfig]) -> None:
    strict = make_config(repository={"allowed_hosts": ["93.184.215.14"]})
    assert await check_address(parse_repo_url("https://93.184.215.14/o/r"), strict) == ["93.184.215.14"]
    relaxed = make_config(repository={"allowed_hosts": ["127.0.0.1"], "allow_private_hosts": True})
    assert await check_address(parse_repo_url("https://127.0.0.1/o/r"), relaxed) == []  # nothing to pin


async def test_a_redirect_is_not_followed_when_the_address_is_pinned(
    served: tuple[GitServer, Path], tmp_path: Path
) -> None:
    """A checked public host could redirect git to an internal one, never checked: git is told not to follow."""
    server, _ = served

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(301)
            self.send_header("Location", f"http://127.0.0.1:{server.port}{self.path}")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        ref = parse_repo_url(f"http://repo.invalid:{redirector.server_address[1]}/acme/widgets")
        with pytest.raises(SourceError, match="redirects elsewhere"):
            await clone(ref, tmp_path / "redirected", TOKEN, pinned=["127.0.0.1"])
        assert not server.authorizations  # the real server was never reached
    finally:
        redirector.shutdown()
        redirector.server_close()
