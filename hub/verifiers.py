"""Webhook signature schemes a plugin names in its contract, and the signing helpers simulators use.

Every scheme refuses a request by raising `SignatureInvalid(reason)`, and nothing else: a malformed header, a
wrong type or an undecodable value is a refused signature, never a crash on the intake path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from secrets import token_urlsafe
from types import MappingProxyType

from hub.errors import SignatureInvalid

_BASE64_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")
_HEX_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,15}")


def sign_intuit(body: bytes, token: str) -> str:
    """Return the `intuit-signature` value QuickBooks Online sends for `body` under the app's verifier token."""
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def sign_karbon(body: bytes, key: str) -> str:
    """Return the `Signature` value (lower-case hex) Karbon is assumed to send for `body` under a SigningKey."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def sign_standard(msg_id: str, timestamp: int | datetime, body: bytes, secret: str) -> str:
    """Return a `webhook-signature` value (`v1,<base64>`) for one message under one `whsec_` secret."""
    seconds = _unix_seconds(timestamp) if isinstance(timestamp, datetime) else timestamp
    return "v1," + _standard_digest(msg_id, str(seconds), body, _standard_key(secret))


def _unix_seconds(moment: datetime) -> int:
    """Return `moment` in whole unix seconds, reading a naive datetime as UTC (not as local time)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def _standard_key(secret: str) -> bytes:
    """Decode a Standard Webhooks secret, `whsec_<base64>` or bare base64, padded or not, to its HMAC key."""
    encoded = secret.removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if not key:
        raise ValueError("a Standard Webhooks secret must not be empty")
    return key


def _standard_digest(msg_id: str, timestamp: str, body: bytes, key: bytes) -> str:
    """Return base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")), the spec's signed content."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    """Return the single value of header `name` (any casing), refusing it missing, repeated, empty or not ASCII."""
    # items() rather than get(): a starlette Headers lists every occurrence, so a repeated header is seen.
    values = [value for key, value in headers.items() if key.lower() == name]
    if not values:
        raise SignatureInvalid(f"missing header {name!r}")
    if len(values) > 1:
        raise SignatureInvalid(f"header {name!r} is given {len(values)} times")
    if not isinstance(values[0], str):
        raise SignatureInvalid(f"header {name!r} is not text")
    # Leading and trailing blanks are HTTP's optional whitespace, not part of the value.
    value = values[0].strip(" \t")
    if not value:
        raise SignatureInvalid(f"header {name!r} is empty")
    if not value.isascii():
        raise SignatureInvalid(f"header {name!r} is not ASCII")
    return value


def _usable_secrets(secrets: Sequence[str]) -> list[str]:
    """Return the non-empty secrets, refusing a configuration that leaves none."""
    # A lone string is a Sequence[str] too: iterating it would make each character a key anyone could sign with.
    if isinstance(secrets, str | bytes) or not all(isinstance(secret, str) for secret in secrets):
        raise SignatureInvalid("the configured secrets must be a list of strings")
    # An empty HMAC key is public knowledge, so it authenticates nobody.
    usable = [secret for secret in secrets if secret]
    if not usable:
        raise SignatureInvalid("no signing secret is configured")
    return usable


def _matches(received: str, expected: Sequence[str]) -> bool:
    """Tell whether `received` equals any expected signature, comparing in constant time."""
    received_bytes = received.encode("ascii")
    return any(hmac.compare_digest(received_bytes, candidate.encode("ascii")) for candidate in expected)


class Verifier(ABC):
    """A webhook signature scheme: accepts a request signed with any configured secret, refuses all else."""

    name: str

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime | None = None,
    ) -> None:
        """Return if one of `secrets` signed this request, else raise SignatureInvalid saying why."""
        try:
            self.check(body, headers, _usable_secrets(secrets), now or datetime.now(UTC))
        except SignatureInvalid:
            raise
        except Exception as exc:
            raise SignatureInvalid(f"signature headers could not be checked ({type(exc).__name__})") from exc

    @abstractmethod
    def check(self, body: bytes, headers: Mapping[str, str], secrets: list[str], now: datetime) -> None:
        """Raise unless one of `secrets` signed this request; `verify` turns any exception into SignatureInvalid."""

    @abstractmethod
    def sign(self, body: bytes, secret: str, *, now: datetime | None = None) -> dict[str, str]:
        """Return the signature headers the vendor would send with `body` signed by `secret`."""


class IntuitSignature(Verifier):
    """QuickBooks Online: header `intuit-signature` = base64(HMAC-SHA256(key=verifier token, msg=raw body))."""

    name = "intuit-signature"

    def check(self, body: bytes, headers: Mapping[str, str], secrets: list[str], now: datetime) -> None:
        """Raise unless `intuit-signature` is the body's HMAC under one of the verifier tokens."""
        received = _header(headers, "intuit-signature")
        if not _BASE64_SHA256.fullmatch(received):
            raise SignatureInvalid("header 'intuit-signature' is not a base64 SHA-256 digest")
        if not _matches(received, [sign_intuit(body, token) for token in secrets]):
            raise SignatureInvalid("header 'intuit-signature' does not match the body under any verifier token")

    def sign(self, body: bytes, secret: str, *, now: datetime | None = None) -> dict[str, str]:
        """Return the `intuit-signature` header QuickBooks Online would send."""
        return {"intuit-signature": sign_intuit(body, secret)}


class KarbonSignature(Verifier):
    """Karbon: header `Signature` = hex(HMAC-SHA256(key=subscription SigningKey, msg=raw body)).

    Karbon does not document the algorithm or encoding (VENDORS.md section 4): this is a guess from the
    spec's 64-hex-character example, kept in this one class so a correction touches one place.
    """

    name = "karbon-signature"

    def check(self, body: bytes, headers: Mapping[str, str], secrets: list[str], now: datetime) -> None:
        """Raise unless `Signature` is the body's hex HMAC under one of the signing keys."""
        received = _header(headers, "signature")
        if not _HEX_SHA256.fullmatch(received):
            raise SignatureInvalid("header 'Signature' is not 64 hex characters")
        if not _matches(received.lower(), [sign_karbon(body, key) for key in secrets]):
            raise SignatureInvalid("header 'Signature' does not match the body under any signing key")

    def sign(self, body: bytes, secret: str, *, now: datetime | None = None) -> dict[str, str]:
        """Return the `Signature` header Karbon would send."""
        return {"Signature": sign_karbon(body, secret)}


class StandardWebhooks(Verifier):
    """Standard Webhooks (standardwebhooks.com): v1 HMAC-SHA256 over `{id}.{timestamp}.{body}`, 5 minutes' leeway."""

    name = "standard-webhooks"
    tolerance = timedelta(minutes=5)

    def check(self, body: bytes, headers: Mapping[str, str], secrets: list[str], now: datetime) -> None:
        """Raise unless the timestamp is recent and a v1 entry of `webhook-signature` matches one secret."""
        msg_id = _header(headers, "webhook-id")
        timestamp = _header(headers, "webhook-timestamp")
        signatures = _header(headers, "webhook-signature")
        if not _UNIX_SECONDS.fullmatch(timestamp):
            raise SignatureInvalid("header 'webhook-timestamp' is not unix seconds")
        # The timestamp is signed, so checking it bounds how long a captured request can be replayed.
        skew = int(timestamp) - _unix_seconds(now)
        leeway = int(self.tolerance.total_seconds())
        if abs(skew) > leeway:
            which = f"too old ({-skew} s in the past)" if skew < 0 else f"too new ({skew} s in the future)"
            raise SignatureInvalid(f"header 'webhook-timestamp' is {which}; {leeway} s either way is allowed")
        # Entries of other versions (v1a is ed25519) are skipped, as the spec asks, not refused.
        offered = [sig for version, _, sig in (entry.partition(",") for entry in signatures.split()) if version == "v1"]
        if not offered:
            raise SignatureInvalid("header 'webhook-signature' has no v1 signature")
        try:
            keys = [_standard_key(secret) for secret in secrets]
        except ValueError as exc:
            raise SignatureInvalid("a configured secret is not a whsec_<base64> key") from exc
        expected = [_standard_digest(msg_id, timestamp, body, key) for key in keys]
        if not any(_matches(sig, expected) for sig in offered):
            raise SignatureInvalid("no v1 signature in 'webhook-signature' matches under any secret")

    def sign(
        self, body: bytes, secret: str, *, now: datetime | None = None, msg_id: str | None = None
    ) -> dict[str, str]:
        """Return the three `webhook-*` headers a Standard Webhooks sender would send (a fresh id unless given)."""
        msg_id = msg_id if msg_id is not None else f"msg_{token_urlsafe(18)}"
        timestamp = _unix_seconds(now or datetime.now(UTC))
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_standard(msg_id, timestamp, body, secret),
        }


VERIFIERS: Mapping[str, Verifier] = MappingProxyType(
    {verifier.name: verifier for verifier in (IntuitSignature(), KarbonSignature(), StandardWebhooks())}
)
"""The built-in signature schemes, by the name a contract gives."""


def get_verifier(name: str) -> Verifier:
    """Return the built-in signature scheme called `name`, or raise KeyError listing the known ones."""
    try:
        return VERIFIERS[name]
    except KeyError:
        raise KeyError(f"unknown signature scheme {name!r}; known: {', '.join(sorted(VERIFIERS))}") from None
