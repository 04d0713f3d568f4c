"""HTTP calls to one QuickBooks Online company, and Intuit's answers turned into the hub's error kinds.

Every call carries ``minorversion=75``; every write a fresh ``requestid``, which it keeps when it is sent again.
A write whose answer is lost (a timeout, a reset connection) or is a 5xx may have been done all the same, so it
is retried (``WRITE_RETRY_DELAYS``) under the same ``requestid``: QuickBooks answers a ``requestid`` it has seen
from its record of the first request instead of doing the write twice. An answer is JSON with the entity, the
``QueryResponse`` or the ``CDCResponse`` at the top, or a ``Fault``: 5010 (Stale Object Error) is a lost race,
other ValidationFaults are one record's problem, 5xx is a passing failure. 429 never gets here: the hub's
rate-limited transport turns it into a pause first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.errors import (
    DuplicateName,
    FatalSyncError,
    RateLimited,
    ReauthorisationRequired,
    RecordError,
    RetriableError,
    StaleWrite,
    SyncError,
)

MINOR_VERSION = "75"
"""The minor version every call asks for (python-quickbooks refuses anything older)."""

WRITE_RETRY_DELAYS = (0.5, 2.0)
"""Seconds before each retry of a write whose outcome is unknown (no answer, or a 5xx); then the run is interrupted."""

STALE_OBJECT = "5010"
OBJECT_NOT_FOUND = "610"
DUPLICATE_NAME = "6240"


class Fault(RecordError):
    """QuickBooks refused one request with a Fault; ``code`` is Intuit's error code."""

    def __init__(self, message: str, code: str) -> None:
        self.code = code
        super().__init__(message)


class DuplicateNameFault(Fault, DuplicateName):
    """Fault 6240: a customer, vendor or employee (or an item, among items) already has that name."""


def fault_error(text: str, code: str) -> Fault:
    """The error a Fault with this code and text is."""
    kind = DuplicateNameFault if code == DUPLICATE_NAME else Fault
    return kind(f"QuickBooks Online refused the request: {text}", code)


class QboClient:
    """Requests under ``/v3/company/{realm}/``, each answered with its JSON object or a hub error."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, realm_id: str, auth: Callable[[], httpx.Auth]) -> None:
        self.http = http
        self.company_url = f"{base_url}/v3/company/{realm_id}"
        self._auth = auth
        self.retry_delays: tuple[float, ...] = WRITE_RETRY_DELAYS
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def get(self, path: str, params: dict[str, str] | None = None, *, listing: bool = False) -> dict[str, Any]:
        """GET a resource of the company."""
        return await self._call("GET", path, params or {}, listing=listing)

    async def post(self, path: str, body: dict[str, Any], *, request_id: str | None = None) -> dict[str, Any]:
        """POST a write under ``request_id`` (a fresh one if not given); one whose outcome is unknown is sent again
        under the same one, so QuickBooks does it at most once."""
        params = {"requestid": request_id or uuid.uuid4().hex}
        for delay in self.retry_delays:
            try:
                return await self._call("POST", path, params, json=body)
            except RateLimited:
                raise  # refused before it was done: the connection pauses, and the run with it
            except RetriableError:
                await self.sleep(delay)
        return await self._call("POST", path, params, json=body)

    async def query(self, statement: str) -> dict[str, Any]:
        """Run one query statement (POSTed as ``application/text``) and return its ``QueryResponse``."""
        answer = await self._call("POST", "query", {}, listing=True, content=statement.encode(), text=True)
        found = answer.get("QueryResponse")
        if not isinstance(found, dict):
            raise RetriableError(f"QuickBooks Online answered a query without a QueryResponse: {_keys(answer)}")
        return found

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        *,
        listing: bool = False,
        json: dict[str, Any] | None = None,
        content: bytes | None = None,
        text: bool = False,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if text:
            headers["Content-Type"] = "application/text"
        response = await self.http.request(
            method,
            f"{self.company_url}/{path}",
            params={"minorversion": MINOR_VERSION, **params},
            headers=headers,
            json=json,
            content=content,
            auth=self._auth(),
        )
        return answer_of(response, listing=listing)


def answer_of(response: httpx.Response, *, listing: bool = False) -> dict[str, Any]:
    """The JSON object QuickBooks answered with, or the hub error its status and Fault call for.

    ``listing`` says the call read a page of records: a garbled answer there is worth retrying, where for a
    single record's read or write it is that record's error.
    """
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
    if status >= 500:
        raise RetriableError(f"QuickBooks Online answered HTTP {status} to {where}: {_fault_text(response)}")
    if status == 401:
        raise ReauthorisationRequired(
            f"re-authorisation required: QuickBooks Online refused the access token ({_fault_text(response)})"
        )
    if status == 403:
        raise FatalSyncError(
            f"QuickBooks Online refused {where} (HTTP 403): {_fault_text(response)}; "
            "check the app's scopes and the user's role in the company"
        )
    body = _json_object(response, where, listing=listing)
    fault = body.get("Fault")
    if fault is not None or status >= 400:
        code, text = _describe_fault(fault, status)
        if code == STALE_OBJECT:
            raise StaleWrite(f"QuickBooks Online: {text}")
        raise fault_error(text, code)
    return body


def entity_of(answer: dict[str, Any], remote_type: str) -> dict[str, Any]:
    """The entity object at the top of a read or write answer (``{"Customer": {...}, "time": ...}``)."""
    data = answer.get(remote_type)
    if not isinstance(data, dict) or not isinstance(data.get("Id"), str):
        raise RecordError(f"QuickBooks Online answered without a {remote_type} that has an Id: {_keys(answer)}")
    return data


def batch_entities(answer: dict[str, Any], remote_type: str, count: int) -> list[dict[str, Any] | RecordError]:
    """The entities of a ``/batch`` answer to ``count`` items with ``bId`` 0, 1, ..., in that order: each the
    entity QuickBooks stored, or the error its own Fault (or a missing or garbled item) is."""
    items = answer.get("BatchItemResponse")
    if not isinstance(items, list):
        raise RecordError(f"QuickBooks Online answered a batch without a BatchItemResponse: {_keys(answer)}")
    by_id = {str(item.get("bId")): item for item in items if isinstance(item, dict)}
    results: list[dict[str, Any] | RecordError] = []
    for number in range(count):
        item = by_id.get(str(number))
        if item is None:
            results.append(RecordError(f"QuickBooks Online's batch answer has no item {number}"))
        elif "Fault" in item:
            code, text = _describe_fault(item["Fault"], 400)
            results.append(fault_error(text, code))
        else:
            try:
                results.append(entity_of(item, remote_type))
            except RecordError as exc:
                results.append(exc)
    return results


def _keys(answer: dict[str, Any]) -> str:
    return "found " + (", ".join(sorted(answer)) or "an empty object")


def _json_object(response: httpx.Response, where: str, *, listing: bool) -> dict[str, Any]:
    error: type[SyncError] = RetriableError if listing else RecordError
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise error(
            f"QuickBooks Online answered {where} with HTTP {response.status_code} and a body that is "
            f"not JSON ({kind}): {response.text[:120]!r}"
        ) from None
    if not isinstance(body, dict):
        raise error(f"QuickBooks Online answered {where} with a JSON {type(body).__name__}, not an object")
    return body


def _describe_fault(fault: Any, status: int) -> tuple[str, str]:
    """Intuit's error code and its Message, Detail and code in words."""
    errors = fault.get("Error") if isinstance(fault, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = str(first.get("code", ""))
    message, detail = first.get("Message") or f"HTTP {status}", first.get("Detail")
    text = f"{message}: {detail}" if detail and detail != message else str(message)
    return code, f"{text} (fault {code})" if code else text


def _fault_text(response: httpx.Response) -> str:
    """What an error answer says, in either of Intuit's Fault spellings, or the start of its body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:120] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        fault = body.get("Fault") or body.get("fault")
        errors = (fault.get("Error") or fault.get("error")) if isinstance(fault, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            parts = [first.get("Message") or first.get("message"), first.get("Detail") or first.get("detail")]
            return ": ".join(str(p) for p in parts if p)
    return response.text[:120]
