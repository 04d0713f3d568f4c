"""QuickBooks Online wire details the simulator shares: Intuit's timestamps and its Fault bodies.

Fault codes, messages and details follow bodies seen from the real API (VENDORS.md §3 and the
issue threads it cites). Where Intuit's exact wording is unknown the text says so with ``[G]``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

PACIFIC = timezone(timedelta(hours=-7), "PDT")
"""The company time zone by default: sandbox companies are on US Pacific time."""

_INACTIVE_HINT = (
    "Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)


def aware(moment: datetime) -> datetime:
    """The moment with a time zone: naive clock readings count as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def meta_time(epoch: float, tz: tzinfo) -> str:
    """A ``MetaData`` time as Intuit writes it: local, whole seconds, ``2014-09-18T12:56:01-07:00``."""
    return datetime.fromtimestamp(int(epoch), tz).isoformat()


def envelope_time(moment: datetime, tz: tzinfo) -> str:
    """The ``time`` of a response envelope: local, milliseconds, ``2015-07-23T11:04:15.496-07:00``."""
    return aware(moment).astimezone(tz).isoformat(timespec="milliseconds")


def parse_time(text: str, tz: tzinfo) -> float | None:
    """Epoch seconds of an ISO date or date-time; a value without an offset is company-local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


class QboFault(Exception):
    """An Intuit ``Fault``: the HTTP status it comes with and the one error it carries."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: str,
        *,
        fault_type: str = "ValidationFault",
        element: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.fault_type = fault_type
        self.element = element
        super().__init__(f"{code} {message}: {detail}")

    def fault(self) -> dict[str, Any]:
        """The ``Fault`` object, as it appears in a response or in a batch item."""
        error: dict[str, Any] = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            error["element"] = self.element
        return {"Error": [error], "type": self.fault_type}

    def body(self, time: str) -> dict[str, Any]:
        """The whole response body."""
        return {"Fault": self.fault(), "time": time}


def stale_object() -> QboFault:
    """A write carried an older SyncToken than the record's."""
    return QboFault(
        400,
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. "
        "root finished before you did, so your work was not saved.",
        element="",
    )


def duplicate_name(existing_id: str) -> QboFault:
    """A name already used by another customer, vendor or employee (or item, among items)."""
    return QboFault(
        400,
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Id={existing_id}",
        element="",
    )


def object_not_found() -> QboFault:
    """An Id that names no live record."""
    return QboFault(400, "610", "Object Not Found", f"Object Not Found : {_INACTIVE_HINT}", element="")


def invalid_reference(field: str) -> QboFault:
    """A reference (``CustomerRef``, ``ParentRef``, ...) to a record that does not exist or is inactive."""
    return QboFault(400, "2500", "Invalid Reference Id", f"Invalid Reference Id : {_INACTIVE_HINT}", element=field)


def required_param(name: str) -> QboFault:
    """A required field is missing."""
    return QboFault(
        400,
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element="",
    )


def business_rule(detail: str) -> QboFault:
    """A business validation error (QuickBooks' catch-all 6000)."""
    return QboFault(
        400,
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element="",
    )


def invalid_email(value: str) -> QboFault:
    """An e-mail address without ``@`` and a dot after it ([G] the code; the detail is Intuit's)."""
    return QboFault(
        400,
        "2210",
        "Invalid Email Address format",
        f"Email Address does not conform to the syntax rules of RFC 822. Supplied value:{value}",
        element="",
    )


def unsupported_property(detail: str) -> QboFault:
    """The body names a field the entity does not have, or does not parse."""
    return QboFault(
        400,
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{detail} specified is unsupported or invalid",
    )


def unknown_field(entity: str, field: str) -> QboFault:
    """A top-level field the entity's schema does not define."""
    return unsupported_property(
        f'Unrecognized field "{field}" (class com.intuit.schema.finance.v3.{entity}), not marked as ignorable'
    )


def unsupported_operation(detail: str) -> QboFault:
    """An operation the entity or endpoint does not support."""
    return QboFault(400, "500", "Unsupported Operation", detail)


def query_parse_error(detail: str) -> QboFault:
    """A query that does not parse (OR, GROUP BY, JOIN, stray tokens)."""
    return QboFault(400, "4000", "Error parsing query", f"QueryParserError: {detail}")


def query_invalid(detail: str) -> QboFault:
    """A query that parses but names something that does not exist."""
    return QboFault(400, "4001", "Invalid query", f"QueryValidationError: {detail}")


def batch_too_large(limit: int) -> QboFault:
    """A batch with more items than Intuit allows."""
    return QboFault(
        400,
        "1040",
        "Batch size exceeds allowed limit",
        f"The batch size for the batch request or BatchItemRequest is too big. The batch limit size is {limit}.",
    )


def cdc_too_old(changed_since: str) -> QboFault:
    """A CDC look-back beyond 30 days ([G] the code; the detail is as reported by API users)."""
    return unsupported_operation(
        f"Operation cdc with changedSince date {changed_since} which is older than fixed days is not supported."
    )


def system_failure(status: int) -> QboFault:
    """A server-side failure (5xx)."""
    return QboFault(
        status,
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data.",
        fault_type="SystemFault",
    )


def throttle_body(time: str) -> dict[str, Any]:
    """The 429 body Intuit sends when a realm goes over its request rate or concurrency limit."""
    return {
        "Fault": {
            "Error": [
                {
                    "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    "Detail": "The request limit was reached.",
                    "code": "3001",
                }
            ],
            "type": "SERVICE",
        },
        "time": time,
    }


def auth_failure_body(detail: str, now: datetime) -> dict[str, Any]:
    """The 401 body, which Intuit's gateway writes in its own lower-case shape with an epoch ``time``."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(aware(now).timestamp() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def failure_body(status: int, now: datetime, tz: tzinfo) -> dict[str, Any]:
    """A body that fits an injected failure of any status."""
    if status == 401:
        return auth_failure_body("Token expired", now)
    if status == 429:
        return throttle_body(envelope_time(now, tz))
    if status >= 500:
        return system_failure(status).body(envelope_time(now, tz))
    rejected = business_rule("The request could not be processed.")
    return rejected.body(envelope_time(now, tz))
