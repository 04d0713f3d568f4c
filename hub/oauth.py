"""OAuth 2.0 access tokens for a connection, refreshed with the refresh-token grant (RFC 6749 §6).

Xero (https://identity.xero.com/connect/token) and Intuit
(https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer) both take the client credentials as HTTP Basic
(client_secret_basic), rotate the refresh token on every refresh, and answer a refused refresh with
HTTP 400 `{"error": "invalid_grant"}`.

Several processes (`hub serve`, `hub sync`) may hold sessions of one connection over one store. Each re-reads the
stored tokens before it refreshes, and again when its refresh token is refused, so a token another process rotated
is taken up, never mistaken for a revoked authorisation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from hub.errors import FatalSyncError, ReauthorisationRequired, RetriableError

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""

REFUSED_GRANTS = frozenset({"invalid_grant", "invalid_client"})
"""Token-endpoint errors that no retry can fix: a person must authorise the hub again."""


@dataclass(frozen=True)
class Tokens:
    """A connection's access token, the refresh token that renews it, and when the access token expires."""

    # Kept out of repr so a logged Tokens never leaks a credential.
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    started_from: frozenset[str] | None = field(default=None, repr=False)
    """Fingerprints of the configured refresh tokens the connection was started from (`hub.credentials`), carried
    over on each refresh; None where no store recorded them."""


class TokenStore(Protocol):
    """Where a connection's tokens are kept between runs."""

    async def load(self, connection: str) -> Tokens | None:
        """The connection's tokens, or None if it was never authorised."""
        ...

    async def save(self, connection: str, tokens: Tokens) -> None:
        """Replace the connection's tokens."""
        ...


class MemoryTokenStore:
    """A `TokenStore` in a dict, for tests and one-off scripts."""

    def __init__(self, tokens: dict[str, Tokens] | None = None) -> None:
        self.tokens: dict[str, Tokens] = dict(tokens or {})

    async def load(self, connection: str) -> Tokens | None:
        """The connection's tokens, or None."""
        return self.tokens.get(connection)

    async def save(self, connection: str, tokens: Tokens) -> None:
        """Replace the connection's tokens."""
        self.tokens[connection] = tokens


class OAuth2Session:
    """One connection's tokens: hands out a valid access token, refreshing it once however many callers ask.

    The hub keeps one session per connection in a process, so the lock here serialises every refresh of that
    connection in it; other processes' refreshes are found in the store. `http` must not itself authenticate with
    this session.
    """

    def __init__(
        self,
        connection: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        store: TokenStore,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        skew: timedelta = timedelta(seconds=60),
    ) -> None:
        self.connection = connection
        self.token_url = token_url
        self._credentials = httpx.BasicAuth(client_id, client_secret)
        self._store = store
        self._http = http
        self._clock = clock
        self._skew = skew
        self._lock = asyncio.Lock()
        self._tokens: Tokens | None = None
        self._refused: tuple[str, str] | None = None
        """The refresh token the endpoint refused, and why: held against the stored tokens until they change."""

    async def access_token(self) -> str:
        """A current access token, refreshed first if it expires within the skew."""
        tokens = self._tokens if self._tokens is not None and self._refused is None else await self._stored()
        if self._fresh(tokens):
            return tokens.access_token
        async with self._lock:
            # Another caller, or another process, may have refreshed (or been refused) meanwhile.
            tokens = await self._stored()
            if self._fresh(tokens):
                return tokens.access_token
            return await self._refresh(tokens)

    async def renew_rejected(self, rejected: str) -> str:
        """A new access token after the system rejected `rejected`, refreshing only if no one else has."""
        async with self._lock:
            tokens = await self._stored()
            if tokens.access_token != rejected and self._fresh(tokens):
                return tokens.access_token
            return await self._refresh(tokens)

    def _fresh(self, tokens: Tokens) -> bool:
        return tokens.expires_at - self._skew > self._clock()

    async def _stored(self) -> Tokens:
        """The tokens as stored now; ReauthorisationRequired while they still hold a refused refresh token."""
        tokens = await self._store.load(self.connection)
        if tokens is None:
            # Not remembered as a refusal: the next call finds the tokens once someone authorises the connection.
            raise ReauthorisationRequired(
                f"re-authorisation required: connection {self.connection!r} has no stored tokens; connect it first"
            )
        if self._refused is not None:
            refused_token, reason = self._refused
            if tokens.refresh_token == refused_token:
                raise ReauthorisationRequired(reason)
            self._refused = None  # another process, or a person re-authorising, stored new tokens
        self._tokens = tokens
        return tokens

    async def _refresh(self, tokens: Tokens) -> str:
        try:
            return await self._grant(tokens)
        except ReauthorisationRequired as refused:
            # Intuit voids a refresh token once it is used: if another process refreshed with this one first, the
            # store holds its successor now, and the refusal says nothing about the authorisation.
            newer = await self._stored()
            if newer.refresh_token == tokens.refresh_token:
                self._refused = (tokens.refresh_token, str(refused))
                raise
        if self._fresh(newer):
            return newer.access_token
        try:
            return await self._grant(newer)
        except ReauthorisationRequired as refused:
            self._refused = (newer.refresh_token, str(refused))
            raise

    async def _grant(self, tokens: Tokens) -> str:
        """Refresh with `tokens`' refresh token and store what comes back; ReauthorisationRequired if refused."""
        asked_at = self._clock()
        try:
            response = await self._http.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
                headers={"Accept": "application/json"},
                auth=self._credentials,
            )
        except httpx.TransportError as exc:
            raise RetriableError(f"{self.connection}: cannot reach {self.token_url}: {exc}") from exc
        body = _json_object(response)
        if response.status_code in (400, 401) and body.get("error") in REFUSED_GRANTS:
            description = body.get("error_description")
            detail = f"{body['error']}: {description}" if description else body["error"]
            raise ReauthorisationRequired(
                f"re-authorisation required: {self.token_url} refused the refresh token of "
                f"connection {self.connection!r} ({detail}); connect it again"
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableError(f"{self.connection}: token refresh failed with HTTP {response.status_code}")
        renewed = self._parse(response, body, tokens, asked_at)
        # Save before use: the old refresh token is void once rotated, so a token the store lost is lost for good.
        await self._store.save(self.connection, renewed)
        self._tokens = renewed
        return renewed.access_token

    def _parse(self, response: httpx.Response, body: dict[str, Any], old: Tokens, asked_at: datetime) -> Tokens:
        access, expires_in = body.get("access_token"), body.get("expires_in")
        if response.status_code != 200 or not isinstance(access, str) or not isinstance(expires_in, int | float):
            raise FatalSyncError(
                f"{self.connection}: token refresh answered HTTP {response.status_code} without an access token "
                f"and expires_in: {response.text[:200]}"
            )
        # A server that does not rotate may omit refresh_token; the old one stays valid (RFC 6749 §6).
        refresh = body.get("refresh_token") or old.refresh_token
        return replace(
            old, access_token=access, refresh_token=refresh, expires_at=asked_at + timedelta(seconds=expires_in)
        )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class OAuth2Auth(httpx.Auth):
    """httpx authentication with a session's bearer token; a 401 renews the token and retries once."""

    # Read the body up front so the request can be sent a second time.
    requires_request_body = True

    def __init__(self, session: OAuth2Session) -> None:
        self.session = session

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse a synchronous client: refreshing a token needs the event loop."""
        raise RuntimeError("OAuth2Auth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with the current token; on 401 renew it and send once more."""
        token = await self.session.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            token = await self.session.renew_rejected(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
