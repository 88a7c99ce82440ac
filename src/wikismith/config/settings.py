"""Process settings read from the environment (the `WIKISMITH_*` variables and DeepWiki's equivalents).

Read once at the edge (CLI start, app factory) and passed down; nothing below reads `os.environ` directly,
except `${VAR}` expansion in config files, which is resolved against the mapping given to `load_config`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from wikismith.redact import redact, register_secret
from wikismith.storage import DataDir

DEFAULT_OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_OLLAMA_HOST = "http://localhost:11434"
_TRUE = {"1", "true", "t", "yes", "y", "on"}


class Settings(BaseModel):
    """Everything the process takes from its environment. Secrets are `SecretStr` (never shown in reprs)."""

    model_config = ConfigDict(frozen=True)

    home: Path
    config_dir: Path | None = None
    openrouter_base_url: str = DEFAULT_OPENROUTER_BASE_URL
    ollama_host: str = DEFAULT_OLLAMA_HOST
    api_keys: tuple[SecretStr, ...] = ()
    local_roots: tuple[Path, ...] = ()
    auth_mode: bool = False
    auth_code: SecretStr | None = None
    # The whole environment (for `${VAR}` expansion): holds keys, so never shown in reprs nor dumped.
    env: Mapping[str, str] = Field(default={}, repr=False, exclude=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Base URLs may carry credentials (`https://user:token@host`): shown redacted.
        for name, value in super().__repr_args__():
            yield name, redact(value) if isinstance(value, str) else value

    @property
    def data(self) -> DataDir:
        return DataDir(self.home)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("WIKISMITH_HOME") or Path.home() / ".wikismith").expanduser()
        config_dir = env.get("WIKISMITH_CONFIG_DIR") or env.get("DEEPWIKI_CONFIG_DIR")
        keys = tuple(SecretStr(k.strip()) for k in env.get("WIKISMITH_API_KEYS", "").split(",") if k.strip())
        roots = tuple(
            Path(p).expanduser().resolve() for p in env.get("WIKISMITH_LOCAL_ROOTS", "").split(":") if p.strip()
        )
        code = env.get("DEEPWIKI_AUTH_CODE")
        for key in keys:
            register_secret(key.get_secret_value())
        register_secret(code)
        for name, value in env.items():
            if name.endswith(("_API_KEY", "_TOKEN", "_SECRET", "_SECRET_ACCESS_KEY")):
                register_secret(value)
        return cls(
            home=home,
            config_dir=Path(config_dir).expanduser() if config_dir else None,
            openrouter_base_url=(env.get("OPENROUTER_BASE_URL") or DEFAULT_OPENROUTER_BASE_URL).rstrip("/"),
            ollama_host=(env.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST).rstrip("/"),
            api_keys=keys,
            local_roots=roots,
            auth_mode=env.get("DEEPWIKI_AUTH_MODE", "").strip().lower() in _TRUE,
            auth_code=SecretStr(code) if code else None,
            env=env,
        )
