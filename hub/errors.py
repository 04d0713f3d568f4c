"""Errors the hub raises and plugins may raise, in three kinds.

    HubError
    ├── ConfigError           the configuration is wrong; fix the file named in the message
    ├── ContractError         a contract is invalid; the message lists FILE: /pointer: rule
    ├── PluginError           a plugin raised or misbehaved; the message names the plugin
    ├── SyncError
    │   ├── FatalSyncError    stop the run (bad credentials, re-authorisation required, ...)
    │   ├── RetriableError    back off and retry (system down, timeouts, 5xx)
    │   │   └── RateLimited   the system said "too many requests"; pause until `until`
    │   └── RecordError       skip this record, note it on its run item, go on
    │       ├── StaleWrite    the record changed remotely since it was read; re-read and re-apply
    │       └── DuplicateName a create refused: the system has a record of that name; find it and link
    └── WebhookError          a webhook refused at intake, answered with its ``status``
        ├── SignatureInvalid  401: missing, malformed or wrong signature
        ├── MalformedPayload  400: not what the vendor sends
        └── PayloadTooLarge   413: over the size limit
"""

from __future__ import annotations

from datetime import datetime


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class UnknownEntity(HubError, KeyError):
    """A contract has no entity type of that name (a KeyError too, for look-ups that expect one)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(HubError):
    """The configuration file is wrong; the message names the key."""


class StoreError(HubError):
    """The record store cannot be used: not a hub database, or from a newer hub; the message names the file."""


class ContractError(HubError):
    """A contract is invalid; `problems` holds one `FILE: /pointer: message` line per error."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PluginError(HubError):
    """A plugin raised or broke the plugin API; the message names the plugin."""


class SyncError(HubError):
    """Something went wrong talking to an external system."""


class FatalSyncError(SyncError):
    """The run cannot go on (credentials refused, system answers nonsense to every call)."""


class ReauthorisationRequired(FatalSyncError):
    """The system refused the refresh token: a person must connect the hub again."""


class RetriableError(SyncError):
    """A passing failure (system down, timeout, 5xx): retry later, lose nothing."""


class RateLimited(RetriableError):
    """The system refused a call for its rate limit; the connection pauses until `until`."""

    def __init__(self, message: str, until: datetime) -> None:
        self.until = until
        super().__init__(message)


class RecordError(SyncError):
    """One record cannot be synced; the run records why and goes on with the others."""


class StaleWrite(RecordError):
    """A write lost a race with another writer; re-read the record and apply the rules again."""


class DuplicateName(RecordError):
    """A create the system refused because it has a record of that name (one the hub has not listed yet)."""


class WebhookError(HubError):
    """A webhook request was refused; `status` is the HTTP answer the hub gives."""

    status = 400


class SignatureInvalid(WebhookError):
    """The webhook's signature is missing, malformed or wrong (answered 401)."""

    status = 401


class MalformedPayload(WebhookError):
    """The webhook's body is not what the vendor sends (answered 400, naming what is wrong)."""

    status = 400


class PayloadTooLarge(WebhookError):
    """The webhook's body is over the intake limit (answered 413)."""

    status = 413
