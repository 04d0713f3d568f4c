"""Calls to Karbon API v3: the two auth headers, OData query strings, and Karbon's answers turned into hub errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload
from urllib.parse import quote, urlencode, urlsplit

import httpx

from hub.config import Connection
from hub.errors import FatalSyncError, RateLimited, RecordError, RetriableError, StaleWrite, SyncError
from hub.ratelimit import parse_retry_after

STALE_CODE = "4020"
"""Karbon's error code for a write that lost a race ("The resource was modified by another request")."""

Query = dict[str, str]


class KarbonApi:
    """One connection's access to Karbon: every request carries ``Authorization: Bearer`` and ``AccessKey``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, connection: Connection) -> None:
        self.http = http
        self.base_url = base_url
        self.connection = connection

    def headers(self) -> dict[str, str]:
        """The auth headers; a ConfigError names the secret that is missing."""
        return {
            "Authorization": f"Bearer {self.connection.secret('app_id')}",
            "AccessKey": self.connection.secret("access_key"),
            "Accept": "application/json",
        }

    def url(self, path: str, query: Query | None = None) -> str:
        """An absolute URL under the base URL, with OData options written as Karbon's docs write them (``$top``)."""
        url = f"{self.base_url}{path}"
        return f"{url}?{urlencode(query, safe='$,', quote_via=quote)}" if query else url

    def follow(self, link: str) -> str:
        """A ``@odata.nextLink`` to follow, refused when it leaves the base URL's origin (it would get our keys)."""
        if _origin(link) != _origin(self.base_url):
            raise FatalSyncError(
                f"Karbon's next-page link {link!r} leaves {self.base_url}; refusing to send the access key there"
            )
        return link

    @overload
    async def send(self, method: str, url: str, *, body: Any = None) -> httpx.Response: ...

    @overload
    async def send(self, method: str, url: str, *, body: Any = None, absent_ok: bool) -> httpx.Response | None: ...

    async def send(self, method: str, url: str, *, body: Any = None, absent_ok: bool = False) -> httpx.Response | None:
        """Send one request; a refusal becomes the hub error that says what to do about it (None: a 404, if asked)."""
        what = f"{method} {urlsplit(url).path}"
        try:
            response = await self.http.request(method, url, headers=self.headers(), json=body)
        except httpx.TimeoutException as exc:
            raise RetriableError(f"Karbon did not answer {what} in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise RetriableError(f"cannot reach Karbon for {what}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        if absent_ok and response.status_code == httpx.codes.NOT_FOUND:
            return None
        raise refusal(response, what, self.connection.name)

    async def get_json(self, url: str) -> dict[str, Any]:
        """GET a JSON object."""
        return decode_object(await self.send("GET", url), f"GET {urlsplit(url).path}")


def decode_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """A response's JSON object; a RecordError says what was wrong with anything else."""
    try:
        data = response.json()
    except ValueError as exc:
        raise RecordError(f"Karbon answered {what} with a body that is not JSON ({exc}): {_excerpt(response)}") from exc
    if not isinstance(data, dict):
        raise RecordError(f"Karbon answered {what} with a JSON {type(data).__name__}, not an object")
    return data


def refusal(response: httpx.Response, what: str, connection: str) -> SyncError:
    """The hub error for a Karbon refusal: stale write, rate limit, bad credentials, outage, or a record error."""
    status = response.status_code
    code, message = karbon_error(response)
    said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status == httpx.codes.CONFLICT and code == STALE_CODE:
        return StaleWrite(f"Karbon refused {what}: the record changed since it was read ({said})")
    if status == httpx.codes.TOO_MANY_REQUESTS:
        until = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        return RateLimited(f"Karbon refused {what} for its rate limit ({said})", until)
    if status == httpx.codes.UNAUTHORIZED:
        return FatalSyncError(
            f"Karbon refused the credentials for {what} ({said}); check connections.{connection}.secrets.app_id "
            f"and connections.{connection}.secrets.access_key"
        )
    if status >= 500:
        return RetriableError(f"Karbon failed {what} ({said}); it will be tried again")
    return RecordError(f"Karbon refused {what} ({said})")


def karbon_error(response: httpx.Response) -> tuple[str, str]:
    """Karbon's error code and message, from either of its error shapes (or the raw text)."""
    try:
        body = response.json()
    except ValueError:
        return "", _excerpt(response)
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", _excerpt(response)
    # The gateway's own answers (401, 404, 429) carry only an HTTP statusCode, which adds nothing to the status.
    return str(error.get("code") or ""), str(error.get("message") or "")


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
