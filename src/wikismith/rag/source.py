"""Where a repository comes from: a local directory, or a shallow clone made with the `git` CLI.

    SourceError                 the repository cannot be opened; the message says why and what to do
    ├── UnsafeSource            refused by policy: file://, non-https, a host not allowed, a private address,
    │                           a local path outside the allowed roots, credentials inside the URL
    ├── RepoNotFound            no such repository (or it is private and no/insufficient token was given)
    ├── RepoAuthError           the token was refused
    └── UnknownRef              no such branch, tag or commit

An access token reaches git only through the environment of the git process (`GIT_CONFIG_COUNT`/`KEY`/`VALUE`
setting `http.extraHeader`): never in a URL, never in `.git/config`, never in an error message. Clones live in
`settings.data.repos/<key>`; an existing clone is fetched and checked out at the requested ref every time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import os
import re
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.rag.types import RepoRef, RepoSnapshot, RepoType
from wikismith.redact import redact, register_secret
from wikismith.storage import file_lock, safe_name

_FORGES: dict[str, RepoType] = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_GIT_TIMEOUT = 900.0
_GIT_ENV_KEPT = ("GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_HTTP_LOW_SPEED_")  # corporate CAs, slow links


class SourceError(Exception):
    """The repository cannot be opened. Messages are redacted and say what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class UnsafeSource(SourceError):
    pass


class RepoNotFound(SourceError):
    pass


class RepoAuthError(SourceError):
    pass


class UnknownRef(SourceError):
    pass


# --- naming ------------------------------------------------------------------------------------------------


def is_remote(source: str) -> bool:
    """DeepWiki's rule, made explicit: anything that looks like a URL is remote, the rest is a local path."""
    return "://" in source or source.startswith("git@")


def parse_repo_url(url: str, repo_type: str | None = None, *, ref: str | None = None) -> RepoRef:
    """A forge URL -> RepoRef with a clean `https://host/owner/name` URL (no credentials, no `.git`).

    GitHub and Bitbucket: `owner/name` are the first two path segments (`/tree/<branch>` etc. are ignored).
    GitLab: every segment before `/-/` or the end; `owner` keeps the subgroups (`group/sub`)."""
    if url.startswith("git@") or url.startswith("ssh://"):
        raise UnsafeSource(f"SSH URLs are not supported ({url}); use the https:// URL of the repository")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http"):
        raise UnsafeSource(f"only https:// repository URLs are accepted, got {parts.scheme}://")
    if parts.username or parts.password:
        raise UnsafeSource("the repository URL holds credentials; pass the token as the access token instead")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeSource(f"the repository URL has no host: {url}")
    kind = _FORGES.get(host) or _repo_type(repo_type)
    segments = [s for s in parts.path.split("/") if s]
    gitlab_end = segments.index("-") if "-" in segments else len(segments)
    segments = segments[:gitlab_end] if kind == "gitlab" else segments[:2]
    if len(segments) < 2:
        raise SourceError(f"cannot find owner/repository in {url}; expected https://{host}/<owner>/<repo>")
    name = segments[-1].removesuffix(".git")
    owner = "/".join(segments[:-1])
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    clean = f"{parts.scheme}://{netloc}/{owner}/{name}"
    return RepoRef(type=kind, owner=owner, name=name, url=clean, ref=ref)


def _repo_type(repo_type: str | None) -> RepoType:
    value = (repo_type or "github").lower()
    if value not in ("github", "gitlab", "bitbucket"):
        raise SourceError(f"unknown repository type {repo_type!r}; expected github, gitlab or bitbucket")
    return value  # type: ignore[return-value]


def repo_key(ref: RepoRef) -> str:
    """A file-system-safe key that names one repository (at one requested ref, when given) in `repos/`,
    `indexes/` and `wikis/`."""
    if ref.local_path is not None:
        digest = hashlib.sha256(str(ref.local_path).encode()).hexdigest()[:10]
        return safe_name("local", ref.name, digest)
    host = urlsplit(ref.url or "").netloc
    key = safe_name(ref.type, host, ref.owner.replace("/", "~"), ref.name)
    if ref.ref:  # each ref gets its own work tree and index, so two refs never share a checkout
        digest = hashlib.sha256(ref.ref.encode()).hexdigest()[:8]
        key = f"{key}_ref-{safe_name(ref.ref)[:40]}-{digest}"
    return key


# --- policy ------------------------------------------------------------------------------------------------


def check_url_policy(ref: RepoRef, config: AppConfig) -> None:
    """Refuse hosts that the config does not allow, and plain http except to explicitly allowed private hosts."""
    repo_cfg = config.repo.repository
    parts = urlsplit(ref.url or "")
    host = (parts.hostname or "").lower()
    allowed = {h.lower() for h in repo_cfg.allowed_hosts}
    if host not in allowed:
        raise UnsafeSource(f"host {host!r} is not allowed; allowed hosts (repo.json): {', '.join(sorted(allowed))}")
    if parts.scheme != "https" and not (repo_cfg.allow_private_hosts and _is_private_name(host)):
        raise UnsafeSource("only https:// repository URLs are accepted (plain http only to allowed private hosts)")


def _is_private_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


async def check_address(ref: RepoRef, config: AppConfig) -> list[str]:
    """Refuse a host that resolves to a loopback, private or link-local address unless the config allows it.
    Returns the addresses checked (none when private hosts are allowed), for `clone()` to pin git to them: a
    second lookup by git could otherwise get another answer (DNS rebinding) and reach an internal address."""
    if config.repo.repository.allow_private_hosts:
        return []
    parts = urlsplit(ref.url or "")
    host = parts.hostname or ""
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise RepoNotFound(f"cannot resolve host {host!r}: {exc}") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise UnsafeSource(f"host {host!r} resolves to a non-public address ({address}); refused")
        addresses.append(str(address))
    return list(dict.fromkeys(addresses))


def resolve_local(path: str, local_roots: Sequence[Path] | None) -> Path:
    """The real directory (symlinks resolved); it must lie under one of `local_roots` when they are given."""
    try:
        root = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # `~nosuchuser`, a NUL byte, a loop of symlinks
        raise RepoNotFound(f"local directory not found: {path} ({exc})") from None
    if local_roots is not None:
        roots = [Path(r).expanduser().resolve() for r in local_roots]
        if not any(root == r or root.is_relative_to(r) for r in roots):
            raise UnsafeSource(f"local path {path} is outside the allowed local roots (WIKISMITH_LOCAL_ROOTS)")
    if not root.is_dir():
        raise RepoNotFound(f"local directory not found: {path}")
    return root


# --- git -----------------------------------------------------------------------------------------------------


def auth_env(ref: RepoRef, token: str | None, pinned: Sequence[str] = ()) -> dict[str, str]:
    """Environment for a git process: no prompts, no stored helpers, the token (if any) as an extra header, and
    the repository's host resolved to the `pinned` addresses only (`http.curloptResolve`, git >= 2.37)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith(_GIT_ENV_KEPT)}
    # No user/system git config (credential helpers, insteadOf rewrites, stored headers), no prompts.
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    env.update(GIT_ASKPASS="", SSH_ASKPASS="", GCM_INTERACTIVE="never")
    settings = {"credential.helper": "", "protocol.file.allow": "never", "protocol.ext.allow": "never"}
    if token:
        user = {"gitlab": "oauth2", "bitbucket": "x-token-auth"}.get(ref.type, "x-access-token")
        if ref.type == "bitbucket" and token.startswith("ATCTT"):
            user = "x-bitbucket-api-token-auth"  # Bitbucket API tokens (DeepWiki upstream #509)
        basic = base64.b64encode(f"{user}:{token}".encode()).decode()
        register_secret(token)
        register_secret(basic)
        settings["http.extraHeader"] = f"Authorization: Basic {basic}"
    if pinned:
        parts = urlsplit(ref.url or "")
        addresses = ",".join(f"[{a}]" if ":" in a else a for a in pinned)  # curl's form: IPv6 in brackets
        settings["http.curloptResolve"] = f"{parts.hostname}:{parts.port or 443}:{addresses}"
        # A redirect would lead git to a host that was never checked (an internal one, whose content would then
        # be indexed and shown): not followed; the error asks for the URL it points to.
        settings["http.followRedirects"] = "false"
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for i, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


async def git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run git; stdout on success, a classified SourceError (stderr redacted) on failure."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise SourceError("the git command is not installed; install git to index remote repositories") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _GIT_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise classify(err.decode("utf-8", "replace"), args[0])
    return out.decode("utf-8", "replace")


def classify(stderr: str, command: str) -> SourceError:
    text = stderr.lower()
    detail = redact(stderr.strip().splitlines()[-1] if stderr.strip() else f"git {command} failed")
    if "couldn't find remote ref" in text or "unknown revision" in text or "not our ref" in text:
        return UnknownRef(f"no such branch, tag or commit: {detail}")
    # The status as git words it ("The requested URL returned error: 403"): a bare "401" would also match a port
    # or a path in the URL quoted in the message.
    auth_status = re.search(r"returned error: 40[13]\b", text)
    if "authentication failed" in text or auth_status or "could not read username" in text:
        return RepoAuthError(f"access denied; check the access token and its scopes ({detail})")
    if re.search(r"returned error: 30[1278]", text):
        return SourceError(
            "the repository URL redirects elsewhere; give the URL it redirects to (redirects are not followed, so"
            f" that a clone never reaches a host that was not checked) ({detail})"
        )
    if "not found" in text or "404" in text or "does not appear to be a git repository" in text:
        return RepoNotFound(f"repository not found (a private repository needs an access token) ({detail})")
    return SourceError(f"git {command} failed: {detail}")


async def _remote_ref(url: str, ref: str | None, env: Mapping[str, str]) -> tuple[str, str | None]:
    """(what to fetch, branch or tag name) for `ref`: the default branch when None, a full SHA as is."""
    if ref is None:
        listing = await git("ls-remote", "--symref", url, "HEAD", env=env)
        match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD", listing, re.MULTILINE)
        return "HEAD", match.group(1) if match else None
    listing = await git("ls-remote", url, ref, env=env)
    names = [line.split("\t", 1)[1] for line in listing.splitlines() if "\t" in line]
    for wanted in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
        if wanted in names:
            return wanted, ref
    if _FULL_SHA.match(ref.lower()):
        return ref.lower(), None
    raise UnknownRef(f"no branch or tag named {ref!r} in {url} (a commit must be given as its full 40-hex SHA)")


async def clone(ref: RepoRef, dest: Path, token: str | None, pinned: Sequence[str] = ()) -> RepoSnapshot:
    """Shallow-fetch `ref.ref` (default branch when None) into `dest` and check it out, detached; git connects
    only to the `pinned` addresses when given (see `check_address`)."""
    env = auth_env(ref, token, pinned)
    url = f"{ref.url}.git"
    try:
        wanted, branch = await _remote_ref(url, ref.ref, env)
    except RepoAuthError as exc:
        if token:
            raise
        # Forges answer "authentication required" for a missing repository too (so as not to reveal private ones).
        raise RepoNotFound(f"repository {ref.url} not found, or private (give an access token): {exc}") from None
    if dest.exists() and not (dest / ".git").is_dir():
        await asyncio.to_thread(shutil.rmtree, dest)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        await git("init", "--quiet", str(dest), env=env)
    await git("fetch", "--quiet", "--depth", "1", "--no-tags", url, wanted, cwd=dest, env=env)
    await git("checkout", "--quiet", "--force", "--detach", "FETCH_HEAD", cwd=dest, env=env)
    await git("clean", "--quiet", "-ffdx", cwd=dest, env=env)
    commit = (await git("rev-parse", "HEAD", cwd=dest, env=env)).strip()
    return RepoSnapshot(ref=ref, root=dest, commit=commit, branch=branch)


async def _local_commit(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        return (await git("rev-parse", "HEAD", cwd=root)).strip() or None
    except SourceError:
        return None


def locate(
    source: str,
    config: AppConfig,
    *,
    ref: str | None = None,
    repo_type: str | None = None,
    local_roots: Sequence[Path] | None = None,
) -> RepoRef:
    """The repository `source` names, checked by policy without touching the network: a local directory
    (resolved, under `local_roots` when given, existing) or a forge URL on an allowed host. The address check and
    the clone are `open_repo`'s."""
    if not source or not source.strip():
        raise SourceError("no repository given")
    if source.startswith("file:"):
        raise UnsafeSource("file:// URLs are refused; give the directory path instead")
    if not is_remote(source) and (repo_type in (None, "", "local")):
        if ref:
            raise SourceError("--ref applies to remote repositories only; check out the ref in the directory")
        root = resolve_local(source, local_roots)
        return RepoRef(type="local", owner="local", name=root.name, local_path=root)
    if not is_remote(source):
        raise SourceError(f"{source!r} is not a repository URL; give https://<host>/<owner>/<repo>")
    parsed = parse_repo_url(source, None if repo_type == "local" else repo_type, ref=ref)
    check_url_policy(parsed, config)
    return parsed


async def open_repo(
    source: str,
    settings: Settings,
    config: AppConfig,
    *,
    ref: str | None = None,
    repo_type: str | None = None,
    access_token: str | None = None,
    local_roots: Sequence[Path] | None = None,
) -> RepoSnapshot:
    """The repository named by `source` on disk: a local directory as it is, or a clone fetched at `ref`.

    `local_roots=None` allows any local directory (the CLI); the server passes `settings.local_roots`."""
    parsed = locate(source, config, ref=ref, repo_type=repo_type, local_roots=local_roots)
    if parsed.local_path is not None:
        root = parsed.local_path
        return RepoSnapshot(ref=parsed, root=root, commit=await _local_commit(root))
    pinned = await check_address(parsed, config)
    dest = settings.data.repos / repo_key(parsed)
    lock = settings.data.repos / f".{dest.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncFileLock(lock):
        return await clone(parsed, dest, access_token, pinned)


class AsyncFileLock:
    """`storage.file_lock` for coroutines: the blocking acquire happens in a worker thread."""

    def __init__(self, path: Path) -> None:
        self._cm = file_lock(path)

    async def __aenter__(self) -> None:
        await asyncio.to_thread(self._cm.__enter__)

    async def __aexit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)
