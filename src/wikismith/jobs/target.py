"""What a job spec resolves to before any work: the model, the wiki's options, the repository (checked by
policy, nothing cloned), the wiki's key and output directory. Everything a user can get wrong is refused here,
with `JobRejected` naming the spec's field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wikismith.config.models import AppConfig, ConfigError
from wikismith.config.schemas import FileFilters
from wikismith.config.settings import Settings
from wikismith.jobs.model import JobSpec, WikiRef
from wikismith.rag.source import RepoNotFound, SourceError, locate, repo_key
from wikismith.rag.types import RepoRef
from wikismith.storage import safe_name
from wikismith.wiki.generator import WikiOptions
from wikismith.wiki.run import WikiSource, wiki_options


class JobRejected(Exception):
    """A spec refused before any work: `field` is the spec's field at fault; `missing` when what it names does
    not exist (a local directory), rather than being refused."""

    def __init__(self, message: str, field: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.missing = missing


@dataclass(frozen=True, slots=True)
class JobTarget:
    """`key` names the wiki (repository, ref, language, mode): one job at a time per key. `out` is its output
    directory under the data directory's `wikis/` (a manifest there makes a later run resume)."""

    key: str
    out: Path
    model: str
    options: WikiOptions
    wiki: WikiRef
    ref: RepoRef

    def source(self, spec: JobSpec, settings: Settings, token: str | None) -> WikiSource:
        filters = FileFilters(
            excluded_dirs=spec.excluded_dirs,
            excluded_files=spec.excluded_files,
            included_dirs=spec.included_dirs,
            included_files=spec.included_files,
        )
        lists = (spec.excluded_dirs, spec.excluded_files, spec.included_dirs, spec.included_files)
        return WikiSource(
            spec.repo,
            ref=spec.ref,
            repo_type=spec.repo_type,
            access_token=token if self.ref.local_path is None else None,
            filters=filters if any(lists) else None,
            local_roots=settings.local_roots,
        )


def resolve_target(spec: JobSpec, settings: Settings, config: AppConfig) -> JobTarget:
    """The target of `spec`, or JobRejected (unknown provider, model or language; a local directory outside
    WIKISMITH_LOCAL_ROOTS or missing; a URL that is not https or whose host repo.json does not allow)."""
    try:
        model = config.choose(spec.provider, spec.model)
    except ConfigError as exc:
        field = "provider" if spec.provider and spec.provider not in config.generator.providers else "model"
        raise JobRejected(_plain(exc), field) from None
    try:
        options = wiki_options(config, model, language=spec.language, comprehensive=spec.comprehensive)
    except ConfigError as exc:
        raise JobRejected(_plain(exc), "language") from None
    ref = _repository(spec, settings, config)
    mode = "comprehensive" if options.comprehensive else "concise"
    variant = safe_name(options.language, mode)
    key = f"{repo_key(ref)}/{variant}"
    wiki = WikiRef(
        owner=ref.owner, repo=ref.name, repo_type=ref.type, language=options.language, comprehensive=spec.comprehensive
    )
    return JobTarget(key, settings.data.wikis / repo_key(ref) / variant, model, options, wiki, ref)


def _repository(spec: JobSpec, settings: Settings, config: AppConfig) -> RepoRef:
    local = "://" not in spec.repo and not spec.repo.startswith("git@") and spec.repo_type in (None, "local")
    if local and not settings.local_roots:
        raise JobRejected(
            "local repositories are not served: the server reads local directories only under"
            " WIKISMITH_LOCAL_ROOTS, which is not set; give a repository URL",
            "repo",
        )
    if local and spec.ref:
        raise JobRejected("ref applies to remote repositories only; check out the ref in the directory", "ref")
    try:
        return locate(spec.repo, config, ref=spec.ref, repo_type=spec.repo_type, local_roots=settings.local_roots)
    except RepoNotFound as exc:
        raise JobRejected(str(exc), "repo", missing=True) from None
    except SourceError as exc:
        raise JobRejected(str(exc), "repo") from None


def _plain(error: ConfigError) -> str:
    """The message without the config file's name and JSON path: the client named a model, not a file."""
    message = str(error)
    return message.split(": ", 1)[-1] if error.file else message
