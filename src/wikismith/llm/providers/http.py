"""HTTP plumbing shared by the providers that speak HTTP: one pooled aiohttp session, timeouts, error mapping.

Timeouts come from `ResolvedProvider.timeouts` (generator.json `providers.{id}.timeouts`): `connect` (TCP/TLS),
`first_byte` (until the response headers), `idle` (between body reads) and `total` (the whole call). Each read
waits at most `min(idle, time left of total)`; which one expired is said in the `ClientTimeout` message.

A status >= 400 becomes the typed error of `llm.errors.error_for_status` (body and `Retry-After` parsed).
Connection failures become `TransportError`. Nothing here retries: that is the router's job. Messages pass
through `redact()` (in `LLMError`), and the request headers (which hold the key) are never put in a message.
Messages name the host as `display_host()` gives it: never the user info of the base URL (a proxy's password).
A request aiohttp refuses to build (a `ValueError`) becomes a `ConfigError` saying which setting is wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from yarl import URL

from wikismith.config.models import CONTROL_CHARACTERS, ConfigError, ResolvedProvider
from wikismith.deadline import Deadline
from wikismith.llm.errors import ClientTimeout, LLMError, StatusError, TransportError, UpstreamError, error_for_status

ErrorRefiner = Callable[[StatusError], StatusError]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def display_host(base_url: str) -> str:
    """`host[:port]` of a base URL, for messages and host checks: no `user:password@` (basic auth to a proxy),
    brackets kept around an IPv6 address, the host lowercased and the scheme's default port left out (so that
    `https://API.openai.com:443` is `api.openai.com`)."""
    parts = urlsplit(base_url)
    try:
        hostname, port = parts.hostname, parts.port
    except ValueError:  # an unparseable port: the URL is refused later, with its own message
        hostname = None
    if not hostname:
        return parts.netloc.rpartition("@")[2] or base_url.rpartition("@")[2]
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port is None or _DEFAULT_PORTS.get(parts.scheme) == port else f"{host}:{port}"


@dataclass(slots=True)
class Opened:
    """A response whose headers have arrived with a 2xx status; `deadline` is the loop time the call must end by."""

    response: aiohttp.ClientResponse
    deadline: float
    model: str | None


class HTTPTransport:
    """One provider's connection pool. The session is created lazily (inside the running loop) and reused."""

    def __init__(
        self,
        provider: ResolvedProvider,
        base_url: str,
        headers: Mapping[str, str],
        *,
        refine: ErrorRefiner | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.host = display_host(self.base_url)
        self._headers = dict(headers)
        self._query = dict(provider.query_params)
        self._timeouts = provider.timeouts
        self._refine = refine
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            limit = max(self.provider.limits.max_concurrent or 0, 64)
            connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300, keepalive_timeout=60)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeouts.connect)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers)
        return self._session

    def url(self, path: str) -> URL:
        """`base_url + path`, parsed once per path (aiohttp would parse the string on every request)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self.base_url + path)
        return url

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # --- calls ---------------------------------------------------------------------------------------------------

    async def open(self, method: str, path: str, body: Mapping[str, Any] | None, *, model: str | None) -> Opened:
        """Send the request and wait (first_byte) for a 2xx status; an error status raises its typed error."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeouts.total
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            with Deadline(min(deadline, loop.time() + self._timeouts.first_byte)):
                response = await self.session().request(
                    method, self.url(path), data=data, headers=headers, params=self._query or None
                )
        except TimeoutError as exc:
            phase = "connect" if isinstance(exc, aiohttp.ServerTimeoutError) else "first_byte"
            raise self.timeout_error(phase, model) from None
        except aiohttp.ClientError as exc:
            raise self.transport_error(exc, model) from None
        except ValueError as exc:  # yarl or aiohttp refused to build the request: a setting is wrong
            raise self.invalid_request(exc) from None
        opened = Opened(response, deadline, model)
        if response.status >= 400:
            raise await self.status_error(opened)
        return opened

    async def json(self, method: str, path: str, body: Mapping[str, Any] | None, *, model: str | None) -> Any:
        """A whole JSON response body (non-streaming call)."""
        opened = await self.open(method, path, body, model=model)
        raw = await self.read_all(opened)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            snippet = raw[:200].decode("utf-8", "replace")
            raise UpstreamError(
                f"{self.host} sent a body that is not JSON: {snippet!r}",
                provider=self.provider.id,
                model=model,
                status=opened.response.status,
            ) from None

    async def read_all(self, opened: Opened) -> bytes:
        response = opened.response
        try:
            if response.content.is_eof():  # the whole body has arrived with the headers: no wait, no timer
                return await response.read()
            with Deadline(opened.deadline):
                return await response.read()
        except TimeoutError:
            response.close()
            raise self.timeout_error("total", opened.model) from None
        except aiohttp.ClientError as exc:
            response.close()
            raise self.transport_error(exc, opened.model) from None
        finally:
            response.release()

    async def chunks(self, opened: Opened) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; each read waits at most `idle` (and never past the total deadline)."""
        loop = asyncio.get_running_loop()
        content = opened.response.content
        idle = self._timeouts.idle
        while True:
            try:
                data = content.read_nowait()  # all that has arrived already, without arming a timer
            except aiohttp.ClientError as exc:
                raise self.transport_error(exc, opened.model) from None
            if not data:
                if content.at_eof():
                    return
                now = loop.time()
                try:
                    with Deadline(min(opened.deadline, now + idle)):
                        data = await content.readany()
                except TimeoutError:
                    phase = "total" if now + idle >= opened.deadline else "idle"
                    raise self.timeout_error(phase, opened.model) from None
                except aiohttp.ClientError as exc:
                    raise self.transport_error(exc, opened.model) from None
                if not data:
                    return
            yield data

    async def finish(self, opened: Opened, *, grace: float = 1.0) -> None:
        """A stream read to its logical end (`[DONE]`): read what is left of the body (normally only the chunked
        terminator) so the connection goes back to the pool; a server that keeps talking is cut off."""
        response = opened.response
        try:
            if not response.content.at_eof():
                with Deadline(asyncio.get_running_loop().time() + grace):
                    await response.content.read()
        except (TimeoutError, aiohttp.ClientError):
            response.close()
            return
        response.release()

    # --- errors --------------------------------------------------------------------------------------------------

    async def status_error(self, opened: Opened) -> StatusError:
        response = opened.response
        try:
            with Deadline(min(opened.deadline, asyncio.get_running_loop().time() + 10)):
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        finally:
            response.release()
        error = error_for_status(
            response.status, raw, provider=self.provider.id, model=opened.model, headers=response.headers
        )
        return self._refine(error) if self._refine is not None else error

    def invalid_request(self, exc: ValueError) -> ConfigError:
        """Why the request could not be built, found again from our own settings (aiohttp raises a bare
        `ValueError` for several causes). Header values are never shown: one of them holds the key."""
        where = f"provider {self.provider.id!r}"
        try:
            url = URL(self.base_url)
        except ValueError as bad:
            return ConfigError(
                f"{where}: base_url is not a valid URL ({bad}); an IPv6 address goes in brackets, "
                "e.g. http://[::1]:11434"
            )
        if url.user is not None and any(name.lower() == "authorization" for name in self._headers):
            return ConfigError(
                f"{where}: base_url holds credentials and an API key is set too; give the key in one place only"
            )
        key_headers = {"authorization", (self.provider.api_key_header or "authorization").lower()}
        for name, value in self._headers.items():
            if CONTROL_CHARACTERS.search(name) or CONTROL_CHARACTERS.search(value):
                what = "the API key" if name.lower() in key_headers else f"header {name!r}"
                return ConfigError(
                    f"{where}: {what} holds a line break or another control character "
                    "(often a line end copied from a file); remove it"
                )
        return ConfigError(f"{where}: the request could not be built: {exc}")

    def timeout_error(self, phase: str, model: str | None) -> ClientTimeout:
        seconds = {
            "connect": self._timeouts.connect,
            "first_byte": self._timeouts.first_byte,
            "idle": self._timeouts.idle,
            "total": self._timeouts.total,
        }[phase]
        what = {
            "connect": "could not connect",
            "first_byte": "no response",
            "idle": "the stream stalled: no data",
            "total": "the call did not finish",
        }[phase]
        return ClientTimeout(
            f"{what} within {seconds:g}s ({phase} timeout) from {self.host}", provider=self.provider.id, model=model
        )

    def transport_error(self, exc: BaseException, model: str | None) -> LLMError:
        # The exception text may hold the URL (with query parameters); LLMError redacts known secrets.
        detail = str(exc) or type(exc).__name__
        return TransportError(
            f"connection to {self.host} failed: {type(exc).__name__}: {detail}", provider=self.provider.id, model=model
        )
