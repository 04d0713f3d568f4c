"""OAuth tokens encrypted at rest with Fernet, under a key the operator keeps in the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken

from hub.errors import ConfigError
from hub.oauth import Tokens

KEY_VARIABLE = "HUB_SECRET_KEY"
"""The environment variable that holds the Fernet key."""

MAKE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
"""The command that prints a new key."""


class TokenCipher:
    """Encrypts a connection's tokens for storage and decrypts them again."""

    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (TypeError, ValueError):
            # Never echo the value: it is meant to be a secret even when malformed.
            raise ConfigError(
                f"{KEY_VARIABLE} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                f"make one with: {MAKE_KEY}"
            ) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TokenCipher:
        """The cipher for the key in `HUB_SECRET_KEY`; ConfigError if it is missing or malformed."""
        key = env.get(KEY_VARIABLE, "").strip()
        if not key:
            raise ConfigError(
                f"{KEY_VARIABLE} is not set; the hub needs it to encrypt tokens. Make one with: {MAKE_KEY}"
            )
        return cls(key)

    def encrypt(self, tokens: Tokens) -> str:
        """The tokens as encrypted text, safe to store."""
        plain = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.isoformat(),
            "started_from": None if tokens.started_from is None else sorted(tokens.started_from),
        }
        return self._fernet.encrypt(json.dumps(plain).encode()).decode("ascii")

    def decrypt(self, text: str) -> Tokens:
        """The tokens in text made by `encrypt`; ConfigError if the key is not the one that encrypted them."""
        try:
            plain = json.loads(self._fernet.decrypt(text))
        except (InvalidToken, ValueError):
            # Fernet authenticates what it decrypts: failing means another key or damaged text, never wrong tokens.
            raise ConfigError(
                f"stored tokens cannot be decrypted with {KEY_VARIABLE}: the key changed since they were saved "
                f"(or the stored text is damaged). Restore the old key, or keep the new one and connect each "
                f"system again"
            ) from None
        started_from = plain.get("started_from")  # absent from tokens saved before the hub kept it
        return Tokens(
            plain["access_token"],
            plain["refresh_token"],
            datetime.fromisoformat(plain["expires_at"]),
            None if started_from is None else frozenset(started_from),
        )
