"""The model catalogue: what each model costs, how much context it takes and which parameters it accepts.

Sources, merged into `ModelInfo`s named `provider/model`:
  1. OpenRouter's `GET /models` (shape: shared/openrouter-api.md §3; prices are decimal strings, USD per token),
     fetched on demand and cached in `WIKISMITH_HOME/catalogue.json` for `ttl` seconds (atomic write), else the
     snapshot shipped in `wikismith/llm/data/openrouter-models.json`, so everything works offline;
  2. the configured providers' models (generator.json): hosted OpenAI-compatible vendors borrow the facts of
     the same model on OpenRouter when it lists it (`openai/gpt-4o`); Ollama and the embedded model cost 0 and
     take their context size from config (`num_ctx`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from wikismith.config.models import AppConfig, ConfigError, ResolvedProvider, canonical_params
from wikismith.config.settings import Settings
from wikismith.llm.types import ModelInfo, PriceOverride
from wikismith.redact import redact
from wikismith.storage import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_TTL = 24 * 3600.0
_AGGREGATOR_KIND = "openrouter"  # the provider kind whose /models feeds the catalogue
_FREE_KINDS = frozenset({"ollama", "llamacpp"})


def _price(pricing: Mapping[str, Any], key: str) -> float | None:
    value = pricing.get(key)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# OpenRouter's pricing keys -> ModelInfo's price fields (the ones wikismith prices a call with).
_PRICE_FIELDS = {
    "prompt": "prompt_price",
    "completion": "completion_price",
    "request": "request_price",
    "input_cache_read": "cache_read_price",
    "input_cache_write": "cache_write_price",
}


def _prices(pricing: Mapping[str, Any]) -> dict[str, float]:
    """The prices a pricing object (or one of its overrides) gives, by ModelInfo field; absent ones left out."""
    return {field: v for key, field in _PRICE_FIELDS.items() if (v := _price(pricing, key)) is not None}


def _overrides(raw: Any) -> tuple[PriceOverride, ...]:
    """`pricing.overrides` -> PriceOverride values; an entry that cannot be read is skipped (never guessed)."""
    out = []
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, dict):
            continue
        prices = _prices(entry)
        try:
            conditions = {k: int(entry[k]) for k in ("min_prompt_tokens", "utc_start", "utc_end") if k in entry}
        except (TypeError, ValueError):
            continue
        if prices:
            out.append(PriceOverride(prices=prices, **conditions))
    return tuple(out)


def parse_model(raw: Mapping[str, Any], provider: str) -> ModelInfo:
    """One `/models` entry -> ModelInfo for `provider/<slug>`."""
    pricing = raw.get("pricing") or {}
    top = raw.get("top_provider") or {}
    arch = raw.get("architecture") or {}
    params = raw.get("supported_parameters")
    return ModelInfo(
        id=f"{provider}/{raw['id']}",
        provider=provider,
        model=str(raw["id"]),
        name=str(raw.get("name") or raw["id"]),
        context_length=raw.get("context_length") or top.get("context_length"),
        max_completion_tokens=top.get("max_completion_tokens"),
        **_prices(pricing),
        discount=_price(pricing, "discount") or 0.0,
        price_overrides=_overrides(pricing.get("overrides")),
        supported_parameters=frozenset(params) if isinstance(params, list) else None,
        modality=arch.get("modality"),
        description=(raw.get("description") or None),
    )


def load_snapshot() -> list[dict[str, Any]]:
    text = resources.files("wikismith.llm").joinpath("data", "openrouter-models.json").read_bytes()
    data: list[dict[str, Any]] = orjson.loads(text)["data"]
    return data


class Catalogue:
    """Models known to wikismith. Loading is lazy (first `models()`/`get()`); `refresh()` fetches live."""

    def __init__(self, config: AppConfig | None = None, *, cache_path: Path | None = None, ttl: float = DEFAULT_TTL):
        self.config = config
        self.cache_path = cache_path
        self.ttl = ttl
        self.source = "snapshot"
        self.fetched_at: float | None = None
        self._raw: list[dict[str, Any]] | None = None
        self._by_id: dict[str, ModelInfo] | None = None

    @classmethod
    def for_settings(cls, config: AppConfig, settings: Settings) -> Catalogue:
        """The process's catalogue: cached at `settings.data.catalogue` for `WIKISMITH_CATALOGUE_TTL` seconds
        (default a day)."""
        raw = settings.env.get("WIKISMITH_CATALOGUE_TTL")
        try:
            ttl = float(raw) if raw else DEFAULT_TTL
        except ValueError:
            raise ConfigError(f"WIKISMITH_CATALOGUE_TTL must be a number of seconds, got {raw!r}") from None
        return cls(config, cache_path=settings.data.catalogue, ttl=ttl)

    # --- reading ---------------------------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return list(self._index().values())

    def get(self, name: str) -> ModelInfo | None:
        """The model named `provider/model`, or None when the catalogue does not know it."""
        return self._index().get(name)

    def is_stale(self) -> bool:
        self._load_raw()
        return self.fetched_at is None or time.time() - self.fetched_at > self.ttl

    def _load_raw(self) -> list[dict[str, Any]]:
        if self._raw is None:
            cached = self._read_cache()
            if cached is not None:
                self._raw, self.fetched_at, self.source = cached[0], cached[1], "cache"
            else:
                self._raw, self.source = load_snapshot(), "snapshot"
        return self._raw

    def _read_cache(self) -> tuple[list[dict[str, Any]], float] | None:
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        try:
            data = orjson.loads(self.cache_path.read_bytes())
            return list(data["data"]), float(data["fetched_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("ignoring unreadable catalogue cache %s: %s", self.cache_path, exc)
            return None

    def _index(self) -> dict[str, ModelInfo]:
        if self._by_id is None:
            self._by_id = {m.id: m for m in self._merge(self._load_raw())}
        return self._by_id

    def _merge(self, raw: list[dict[str, Any]]) -> Iterable[ModelInfo]:
        if self.config is None:
            yield from (parse_model(r, _AGGREGATOR_KIND) for r in raw)
            return
        by_slug = {str(r["id"]): r for r in raw if "id" in r}
        for pid, cfg in self.config.generator.providers.items():
            kind = self.config.client_classes.get(cfg.client_class or self.config.default_client_for.get(pid, ""), "")
            if kind == _AGGREGATOR_KIND:
                yield from (parse_model(r, pid) for r in raw)
                missing = [m for m in cfg.models if m not in by_slug]
            else:
                missing = list(cfg.models)
            for model in missing:
                yield self._configured(pid, kind, model, cfg.models[model], by_slug)

    @staticmethod
    def _configured(
        pid: str, kind: str, model: str, params: Mapping[str, Any], by_slug: Mapping[str, Mapping[str, Any]]
    ) -> ModelInfo:
        window = canonical_params(params).get("context_window")
        if kind in _FREE_KINDS:
            return ModelInfo(
                id=f"{pid}/{model}", provider=pid, model=model, name=model, context_length=window,
                prompt_price=0.0, completion_price=0.0,
            )  # fmt: skip
        twin = by_slug.get(f"{pid}/{model}") or by_slug.get(model)
        if twin is not None:
            info = parse_model(twin, pid)
            return info.model_copy(update={"id": f"{pid}/{model}", "model": model})
        return ModelInfo(id=f"{pid}/{model}", provider=pid, model=model, name=model, context_length=window)

    # --- refreshing ------------------------------------------------------------------------------------------

    async def refresh_if_stale(self, *, force: bool = False) -> bool:
        """Fetch the live list from the configured aggregator (its base URL and key) when the cached one is older
        than `ttl`, or always with `force`. True when a live list is now in use; False when the cache was fresh,
        no aggregator is configured, or the fetch failed (a warning; the cached or shipped list stays)."""
        if self.config is None or not (force or self.is_stale()):
            return False
        source = aggregator_provider(self.config)
        if source is None or not source.base_url:
            return False
        key = source.api_key.get_secret_value() if source.api_key else None
        return await self.refresh(source.base_url, api_key=key)

    async def refresh(self, base_url: str, *, api_key: str | None = None, timeout: float = 15.0) -> bool:
        """Fetch `GET {base_url}/models`, cache it atomically and use it. False (and a warning) on failure:
        the cached or shipped list stays in use."""
        import aiohttp

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.get(f"{base_url.rstrip('/')}/models", headers=headers) as response,
            ):
                body = await response.read()
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
            data = orjson.loads(body)["data"]
            if not isinstance(data, list):
                raise ValueError("`data` is not a list")
        except Exception as exc:
            log.warning("could not refresh the model catalogue from %s: %s", base_url, exc)
            return False
        now = time.time()
        if self.cache_path is not None:
            atomic_write_bytes(
                self.cache_path, orjson.dumps({"fetched_at": now, "source": redact(base_url), "data": data})
            )
        self._raw, self.fetched_at, self.source, self._by_id = data, now, "live", None
        return True


def aggregator_provider(config: AppConfig) -> ResolvedProvider | None:
    """The first configured provider whose `/models` feeds the catalogue (None if none is usable)."""
    for pid, cfg in config.generator.providers.items():
        kind = config.client_classes.get(cfg.client_class or config.default_client_for.get(pid, ""), "")
        if kind == _AGGREGATOR_KIND:
            try:
                return config.provider(pid)
            except ConfigError:
                continue
    return None
