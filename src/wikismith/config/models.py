"""The DeepWiki-shaped configuration files, validated on load (their schemas are in `schemas`): generator,
embedder, repo and lang, and what they resolve to (`AppConfig`, `ResolvedProvider`, `ModelTarget`).

Files come from the config directory (`WIKISMITH_CONFIG_DIR` / `DEEPWIKI_CONFIG_DIR`) when it has them, else from
the packaged `defaults/`. Strings may hold `${NAME}` or `${NAME:-default}` placeholders; an unset variable is an
error only when the provider (or embedder) that holds it is used, so a missing Azure key never breaks OpenRouter.

Every problem is one `ConfigError` naming the file, the JSON path and what was expected. An unknown model is an
error unless its provider allows custom models: it is never silently replaced by the default (DeepWiki does).
Neither an error nor the repr of a loaded file shows a key: literal `api_key`s are `SecretStr`, and the models
that may hold one elsewhere (headers, query parameters, embedder kwargs) show those values redacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from wikismith.config.schemas import (
    EmbedderConfig,
    EmbedderEntry,
    GeneratorConfig,
    LangConfig,
    Limits,
    ProviderConfig,
    RepoConfig,
    Timeouts,
)
from wikismith.redact import MASK, is_sensitive, redact, redact_mapping, redact_value, register_secret

_M = TypeVar("_M", bound=BaseModel)
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# What no key or header value may hold and aiohttp refuses to send: C0 control characters but tab, and DEL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class ConfigError(Exception):
    """A configuration file (or a value resolved from it) is wrong. Names the file, JSON path and expectation."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        self.file = file
        self.path = path
        where = ", ".join(p for p in (file, path and f"at {path}") if p)
        super().__init__(redact(f"{where}: {message}" if where else message))


# --- resolved values ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedProvider:
    """A provider ready to build a client: placeholders expanded, the key read, the wire kind chosen."""

    id: str
    kind: str
    client_class: str
    base_url: str | None
    api_key: SecretStr | None
    api_key_env: str | None
    api_key_header: str | None
    query_params: Mapping[str, str]
    headers: Mapping[str, str]
    timeouts: Timeouts
    limits: Limits
    prompt_cache: bool = True

    def __repr__(self) -> str:
        # Headers and query parameters may hold an expanded `${…_API_KEY}`: shown redacted, like the key itself.
        shown = {f: getattr(self, f) for f in self.__dataclass_fields__}
        shown.update(headers=redact_mapping(self.headers), query_params=redact_mapping(self.query_params))
        return redact(f"ResolvedProvider({', '.join(f'{k}={v!r}' for k, v in shown.items())})")


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """`provider/model` resolved: the provider, the model id it knows, and canonical parameters from config."""

    provider: ResolvedProvider
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.provider.id}/{self.model}"


# Parameter names used in DeepWiki configs that are not canonical (Ollama's `options` are flattened first).
_PARAM_ALIASES = {"num_predict": "max_tokens", "num_ctx": "context_window", "max_completion_tokens": "max_tokens"}


def canonical_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """DeepWiki model params -> canonical names: Ollama's nested `options` flattened, aliases renamed."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "options" and isinstance(value, Mapping):
            flat.update(canonical_params(value))
        else:
            flat[_PARAM_ALIASES.get(key, key)] = value
    return flat


@dataclass(frozen=True)
class AppConfig:
    """All configuration files, validated. `resolve()` turns `provider` + `model` into a `ModelTarget`."""

    generator: GeneratorConfig
    embedder: EmbedderConfig
    repo: RepoConfig
    lang: LangConfig
    files: Mapping[str, str]
    env: Mapping[str, str] = field(repr=False)  # the whole environment: keys included, never shown
    client_classes: Mapping[str, str]
    default_client_for: Mapping[str, str]

    def provider(self, provider_id: str) -> ResolvedProvider:
        """The provider with placeholders expanded; ConfigError if unknown or a placeholder is unset."""
        providers = self.generator.providers
        if provider_id not in providers:
            raise ConfigError(
                f"unknown provider {provider_id!r}; configured providers: {', '.join(sorted(providers))}",
                file=self.files["generator"],
                path="providers",
            )
        cfg = providers[provider_id]
        base = f"providers.{provider_id}"
        file = self.files["generator"]
        client_class = cfg.client_class or self.default_client_for[provider_id]
        base_url = expand(cfg.base_url, self.env, file=file, path=f"{base}.base_url") if cfg.base_url else None
        key_value = self._key(cfg, file, base)
        register_secret(key_value)
        headers: dict[str, str] = {}
        for k, v in cfg.headers.items():  # HTTP ignores whitespace around a field value (RFC 9110 §5.5)
            path = f"{base}.headers.{k}"
            headers[k] = credential(expand(v, self.env, file=file, path=path), f"header {k!r}", file=file, path=path)
        query: dict[str, str] = {}
        for k, v in cfg.query_params.items():
            path = f"{base}.query_params.{k}"
            value = expand(v, self.env, file=file, path=path)
            query[k] = credential(value, f"query parameter {k!r}", file=file, path=path) if is_sensitive(k) else value
        for name, value in (*headers.items(), *query.items()):
            if is_sensitive(name):  # e.g. `"api-key": "${AZURE_OPENAI_API_KEY}"`, Google's `?key=`
                register_secret(value.removeprefix("Bearer ").strip())
        return ResolvedProvider(
            id=provider_id,
            kind=self.client_classes[client_class],
            client_class=client_class,
            base_url=base_url.rstrip("/") if base_url else None,
            api_key=SecretStr(key_value) if key_value else None,
            api_key_env=cfg.api_key_env,
            api_key_header=cfg.api_key_header,
            query_params=query,
            headers=headers,
            timeouts=cfg.timeouts,
            limits=cfg.limits,
            prompt_cache=cfg.prompt_cache,
        )

    def _key(self, cfg: ProviderConfig, file: str, base: str) -> str | None:
        """The provider's key: the literal/placeholder `api_key`, else the variable `api_key_env` names."""
        if cfg.api_key is not None:
            path = f"{base}.api_key"
            value = expand(cfg.api_key.get_secret_value(), self.env, file=file, path=path)
            return credential(value, "the API key", file=file, path=path) or None
        if cfg.api_key_env:
            value = self.env.get(cfg.api_key_env) or ""
            path = f"{base}.api_key_env"
            return credential(value, f"the API key in {cfg.api_key_env}", file=file, path=path) or None
        return None

    def resolve(self, provider_id: str | None = None, model: str | None = None) -> ModelTarget:
        """`get_model_config` done strictly: the default provider/model when omitted, an error when unknown."""
        provider_id = provider_id or self.generator.default_provider
        resolved = self.provider(provider_id)
        cfg = self.generator.providers[provider_id]
        model = model or cfg.default_model
        if model in cfg.models:
            params = canonical_params(cfg.models[model])
        elif cfg.supports_custom_model:
            params = {}
        else:
            raise ConfigError(
                f"model {model!r} is not configured for provider {provider_id!r} and the provider does not allow "
                f"custom models (supportsCustomModel is false); configured: {', '.join(sorted(cfg.models))}",
                file=self.files["generator"],
                path=f"providers.{provider_id}.models",
            )
        return ModelTarget(provider=resolved, model=model, params=params)

    def resolve_name(self, name: str) -> ModelTarget:
        """Resolve `provider/model` (the model part may itself hold slashes, e.g. OpenRouter slugs)."""
        provider_id, _, model = name.partition("/")
        if not model:
            raise ConfigError(f"model name {name!r} must look like provider/model (e.g. local/smollm2)")
        return self.resolve(provider_id, model)

    def choose(self, provider: str | None, model: str | None) -> str:
        """The router's model name for a request's `provider` + `model` (DeepWiki's pair): with a provider, its
        model (default when None); without one, `model` may be `provider/model`, a route, `auto` or `default`
        (None: the default provider's default model). ConfigError when unknown."""
        if provider:
            return self.resolve(provider, model).name
        model = model or "default"
        if model in ("auto", "default") or model in self.generator.routes:
            return self.resolve().name if model == "default" else model
        return self.resolve_name(model).name

    def language(self, code: str | None) -> str:
        """`code`, else lang.json's default; ConfigError naming the supported codes when lang.json lacks it."""
        code = code or self.lang.default
        if code not in self.lang.supported_languages:
            known = ", ".join(sorted(self.lang.supported_languages))
            raise ConfigError(f"unsupported language {code!r}; supported (lang.json): {known}")
        return code


# --- loading ------------------------------------------------------------------------------------------------


def expand(value: str, env: Mapping[str, str], *, file: str, path: str) -> str:
    """Replace `${NAME}` / `${NAME:-default}`; an unset NAME without default is a ConfigError."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set (needed by ${{{name}}})", file=file, path=path)

    return _PLACEHOLDER.sub(substitute, value)


def credential(value: str, what: str, *, file: str, path: str) -> str:
    """A key or header value without the whitespace around it; a control character inside is a ConfigError
    that does not show the value. Stripped, not refused: a line end there is almost always an accident (a `.env`
    file with CRLF line ends, `echo key > file`) and no key holds one; one inside cannot be meant."""
    value = value.strip()
    if CONTROL_CHARACTERS.search(value):
        raise ConfigError(f"{what} holds a line break or another control character; remove it", file=file, path=path)
    return value


def _read_json(name: str, config_dir: Path | None) -> tuple[Any, str]:
    if config_dir is not None and (config_dir / name).is_file():
        path = config_dir / name
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start}); JSON config files are UTF-8", file=label) from None
        except OSError as exc:
            raise ConfigError(f"cannot read it: {exc.strerror or exc}", file=label) from None
    else:
        text = resources.files("wikismith.config").joinpath("defaults", name).read_text(encoding="utf-8")
        label = f"<packaged defaults>/{name}"
    try:
        return json.loads(text), label
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=label) from exc


def _validate(model: type[_M], data: Any, label: str, prefix: str = "") -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "") or "(root)"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        got = first.get("input")
        # Each name on the path on its own: `is_sensitive` knows a bare `key` (Google's `?key=`) only as a name.
        sensitive = any(is_sensitive(str(part)) for part in (prefix, *first["loc"]))
        got = MASK if sensitive else redact_value(got)
        raise ConfigError(f"{first['msg']}; got {got!r}{more}", file=label, path=path) from None


def load_config(config_dir: Path | None = None, env: Mapping[str, str] | None = None) -> AppConfig:
    """Load and validate every configuration file. Raises ConfigError on the first problem found."""
    env = dict(env or {})
    if config_dir is not None and not config_dir.is_dir():
        raise ConfigError(f"config directory {config_dir} does not exist")
    raw_classes, _ = _read_json("client_classes.json", None)
    client_classes: dict[str, str] = raw_classes["client_classes"]
    default_for: dict[str, str] = raw_classes["default_for_provider"]
    gen_raw, gen_label = _read_json("generator.json", config_dir)
    generator = _validate(GeneratorConfig, gen_raw, gen_label)
    _check_generator(generator, gen_label, client_classes, default_for)
    emb_raw, emb_label = _read_json("embedder.json", config_dir)
    embedder = _validate(EmbedderConfig, emb_raw, emb_label)
    for name, entry in (embedder.model_extra or {}).items():
        if name.startswith("embedder"):
            _validate(EmbedderEntry, entry, emb_label, prefix=name)
    repo_raw, repo_label = _read_json("repo.json", config_dir)
    repo = _validate(RepoConfig, repo_raw, repo_label)
    lang_raw, lang_label = _read_json("lang.json", config_dir)
    lang = _validate(LangConfig, lang_raw, lang_label)
    if lang.default not in lang.supported_languages:
        raise ConfigError("default language must be one of supported_languages", file=lang_label, path="default")
    files = {"generator": gen_label, "embedder": emb_label, "repo": repo_label, "lang": lang_label}
    return AppConfig(generator, embedder, repo, lang, files, env, client_classes, default_for)


def _check_generator(
    gen: GeneratorConfig, label: str, client_classes: Mapping[str, str], default_for: Mapping[str, str]
) -> None:
    if gen.default_provider not in gen.providers:
        raise ConfigError(
            f"default_provider {gen.default_provider!r} is not among providers ({', '.join(sorted(gen.providers))})",
            file=label,
            path="default_provider",
        )
    for pid, cfg in gen.providers.items():
        cls = cfg.client_class or default_for.get(pid)
        if cls is None:
            raise ConfigError(
                f"client_class is required for provider id {pid!r}; known: {', '.join(sorted(client_classes))}",
                file=label,
                path=f"providers.{pid}.client_class",
            )
        if cls not in client_classes:
            raise ConfigError(
                f"unknown client_class {cls!r}; expected one of {', '.join(sorted(client_classes))}",
                file=label,
                path=f"providers.{pid}.client_class",
            )
        if not cfg.supports_custom_model and cfg.default_model not in cfg.models:
            raise ConfigError(
                f"default_model {cfg.default_model!r} is not in models and supportsCustomModel is false",
                file=label,
                path=f"providers.{pid}.default_model",
            )
        for mid, params in cfg.models.items():
            if not isinstance(params, dict):
                path = f"providers.{pid}.models.{mid}"
                raise ConfigError("model parameters must be an object", file=label, path=path)
    for route, targets in gen.routes.items():
        for i, target in enumerate(targets):
            pid, _, model = target.partition("/")
            if pid not in gen.providers or not model:
                raise ConfigError(
                    f"route target {target!r} must be provider/model with a configured provider",
                    file=label,
                    path=f"routes.{route}[{i}]",
                )
