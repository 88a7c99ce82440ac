"""Who may call what. Two independent credentials, both compared in constant time:

- gateway keys (`WIKISMITH_API_KEYS`, comma-separated): when set, every `/v1` route, the chat routes and every
  write route (wiki cache saves included) need `Authorization: Bearer <key>`. A key is known to the ledger by a
  short hash (`key-1a2b3c4d`), never by its value, so budgets can be set per key
  (`WIKISMITH_BUDGETS=key-1a2b3c4d:day=1`). DeepWiki's front end sends no key: with keys set, its calls need a
  proxy that adds one.
- DeepWiki's wiki auth code (`DEEPWIKI_AUTH_MODE=true`, `DEEPWIKI_AUTH_CODE`): when on, wiki cache deletes (and
  generation jobs) need the code (query `authorization_code`, as DeepWiki's DELETE takes it, or header
  `x-deepwiki-auth-code`); a valid gateway key is accepted in its place. Saves do not, as in DeepWiki (api.py:
  only DELETE checks it), whose front end never sends the code with a save.
- `/metrics` is open unless `WIKISMITH_METRICS_AUTH=1`; then it needs a gateway key too (and gateway keys must be
  configured: `create_app` refuses the setting without them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from wikismith.config.settings import Settings
from wikismith.server.errors import HTTPProblem

_TRUE = frozenset({"1", "true", "yes", "on"})


def key_tag(key: str) -> str:
    """The name of a gateway key in the usage ledger and in budgets: never the key itself."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def _equal(given: str, expected: str) -> bool:
    # `surrogatepass`: a lone surrogate from a JSON body is a wrong code, not an encoding failure.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class Auth:
    keys: tuple[str, ...]
    code_required: bool
    code: str | None
    metrics: bool = False  # `/metrics` needs a gateway key

    @classmethod
    def from_settings(cls, settings: Settings) -> Auth:
        keys = tuple(k.get_secret_value() for k in settings.api_keys)
        code = settings.auth_code.get_secret_value() if settings.auth_code else None
        metrics = settings.env.get("WIKISMITH_METRICS_AUTH", "").strip().lower() in _TRUE
        return cls(keys, settings.auth_mode, code, metrics)

    def bearer(self, headers: Mapping[str, str]) -> str | None:
        """The tag of the valid gateway key in `headers` (None when keys are not required).
        Raises 401 when keys are required and none valid was given."""
        if not self.keys:
            return None
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HTTPProblem(401, "missing API key: send Authorization: Bearer <key>", code="invalid_api_key")
        # Compare against every key so the time taken does not tell which key (or how many) matched.
        matched = None
        for key in self.keys:
            if _equal(token, key):
                matched = key
        if matched is None:
            raise HTTPProblem(401, "invalid API key", code="invalid_api_key")
        return key_tag(matched)

    def code_valid(self, code: str | None) -> bool:
        """DeepWiki's `/auth/validate`: the code matches (False when no code is configured)."""
        return bool(code) and self.code is not None and _equal(code or "", self.code)

    def save(self, headers: Mapping[str, str]) -> None:
        """Allow a wiki cache save, or raise 401: a gateway key when keys are set, and no DeepWiki code."""
        if self.keys:
            self.bearer(headers)

    def write(self, headers: Mapping[str, str], code: str | None) -> None:
        """Allow a write DeepWiki's code guards (a wiki cache delete; a generation job's start, cancel or resume),
        or raise 401. Either credential that is configured suffices."""
        if not self.keys and not self.code_required:
            return
        if self.code_required and self.code_valid(code or headers.get("x-deepwiki-auth-code")):
            return
        if self.keys and headers.get("authorization"):
            self.bearer(headers)
            return
        if self.code_required:
            raise HTTPProblem(401, "Authorization code is invalid", code="invalid_authorization_code")
        self.bearer(headers)
