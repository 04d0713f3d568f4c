"""Where OAuth tokens live between runs: encrypted in the hub's own store, one row per connection.

`StoredTokens` is the `hub.oauth.TokenStore` the hub uses: it keeps each connection's tokens in
`connection_state.tokens`, encrypted with the `HUB_SECRET_KEY` Fernet key (`hub.secrets.TokenCipher`), so the
database alone never reveals a credential. `InitialRefreshToken` starts a connection from the refresh token its
configuration names whenever that token is new to the hub: on the first start, and after a person authorised the
hub again and configured the refresh token Intuit gave them then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from hub.oauth import Tokens, TokenStore
from hub.secrets import TokenCipher
from hub.store import Store

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


class StoredTokens:
    """A `TokenStore` in the hub's SQLite store, each connection's tokens encrypted in `connection_state.tokens`."""

    def __init__(self, store: Store, cipher: TokenCipher) -> None:
        self._store = store
        self._cipher = cipher

    @classmethod
    def from_env(cls, store: Store, env: Mapping[str, str]) -> StoredTokens:
        """Tokens kept under the key in `HUB_SECRET_KEY`; ConfigError if it is missing or malformed."""
        return cls(store, TokenCipher.from_env(env))

    async def load(self, connection: str) -> Tokens | None:
        """The connection's tokens, or None if none were ever saved."""
        state = await self._store.connection_state(connection)
        if not state["tokens"]:
            return None
        tokens = self._cipher.decrypt(state["tokens"])
        if tokens.started_from is None and state["reauth_required"]:
            # Saved by a hub that kept no fingerprints, and refused since: whatever refresh token is configured
            # now is a new authorisation, not the one these tokens came from.
            return replace(tokens, started_from=frozenset())
        return tokens

    async def save(self, connection: str, tokens: Tokens) -> None:
        """Replace the connection's tokens; new tokens end any "re-authorisation required" (the rest stays)."""
        await self._store.set_connection_state(connection, tokens=self._cipher.encrypt(tokens), reauth_required=None)


class InitialRefreshToken:
    """A `TokenStore` that starts a connection from a configured refresh token the hub has not started it from.

    The configured token is used while no tokens are saved, and again once it changes (a person connected the app
    again). Saved tokens keep the fingerprints of the configured tokens they descend from, so a process still
    configured with an older token uses the saved ones. The access token it makes up is already expired, so the
    first call refreshes it, and the rotated tokens are saved with the configured token's fingerprint: once that
    refresh succeeds, the configured token is never used again.
    """

    def __init__(self, inner: TokenStore, refresh_token: str) -> None:
        self._inner = inner
        self._refresh_token = refresh_token
        self._fingerprint = fingerprint(refresh_token)

    async def load(self, connection: str) -> Tokens | None:
        """The saved tokens, or the configured refresh token with an expired access token if it is new."""
        saved = await self._inner.load(connection)
        if saved is not None and saved.started_from is None:
            # Saved by a hub that kept no fingerprints: they came from the token configured then, presumably this one.
            return replace(saved, started_from=frozenset({self._fingerprint}))
        if saved is not None and self._fingerprint in saved.started_from:
            return saved
        earlier = saved.started_from if saved is not None else frozenset()
        return Tokens("", self._refresh_token, _LONG_AGO, earlier | {self._fingerprint})

    async def save(self, connection: str, tokens: Tokens) -> None:
        """Save to the wrapped store."""
        await self._inner.save(connection, tokens)


def fingerprint(refresh_token: str) -> str:
    """A configured refresh token as the hub remembers it: its SHA-256, never the token itself."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()
