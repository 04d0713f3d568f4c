"""An integration hub that keeps a firm's own records in sync with its practice-management and accounting systems."""

from hub.engine import Engine, RunResult, Scope
from hub.errors import (
    ConfigError,
    ContractError,
    FatalSyncError,
    HubError,
    MalformedPayload,
    PluginError,
    RateLimited,
    ReauthorisationRequired,
    RecordError,
    RetriableError,
    SignatureInvalid,
    StaleWrite,
    SyncError,
)
from hub.hookspecs import hookimpl
from hub.system import System
from hub.types import UNSET, Page, PageRequest, RemoteRecord, WebhookEvent

__version__ = "0.1.0"

__all__ = [
    "UNSET",
    "ConfigError",
    "ContractError",
    "Engine",
    "FatalSyncError",
    "HubError",
    "MalformedPayload",
    "Page",
    "PageRequest",
    "PluginError",
    "RateLimited",
    "ReauthorisationRequired",
    "RecordError",
    "RemoteRecord",
    "RetriableError",
    "RunResult",
    "Scope",
    "SignatureInvalid",
    "StaleWrite",
    "SyncError",
    "System",
    "WebhookEvent",
    "hookimpl",
]
