"""Check Karbon API v3 traffic against Karbon's own OpenAPI description (`KarbonAPI.json`).

Use `validate_request`, `validate_response` and `validate_webhook` on single messages, or put
`SpecCheckingTransport` under an `httpx.AsyncClient` so every exchange a plugin makes is checked:

    transport = SpecCheckingTransport(httpx.ASGITransport(app=create_app()))
    client = httpx.AsyncClient(transport=transport, base_url=KARBON_BASE_URL)
    ...
    assert transport.violations == []

The spec is read once per test session. It is the vendor's file, used as data; three of its slips are
corrected in memory (see `_relax`) because they contradict the vendor's own documented behaviour.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

KARBON_BASE_URL = "https://api.karbonhq.com"
"""The `servers` URL of the spec; its paths start with `/v3/`."""

SPEC_ENV = "KARBON_OPENAPI_SPEC"
"""Environment variable naming another copy of KarbonAPI.json."""

GATEWAY_STATUSES = frozenset({502, 503, 504})
"""Statuses any proxy in front of an API can answer; the spec cannot list them, so they are not checked."""


class SpecViolation(AssertionError):
    """A request or response does not match KarbonAPI.json; the message says which and why."""


def spec_path() -> Path:
    """Where KarbonAPI.json is: `$KARBON_OPENAPI_SPEC`, else the copy in `tests/specs/karbon/`."""
    if override := os.environ.get(SPEC_ENV):
        return Path(override)
    return Path(__file__).resolve().parent / "specs" / "karbon" / "KarbonAPI.json"


@functools.cache
def karbon_openapi() -> OpenAPI:
    """The Karbon spec, loaded once (it is 600 KB)."""
    path = spec_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: KarbonAPI.json not found; set {SPEC_ENV} to its location")
    spec = json.loads(path.read_text(encoding="utf-8"))
    _relax(spec)
    # The vendor's file does not pass openapi-spec-validator (see _relax), so skip that check.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _relax(spec: dict[str, Any]) -> None:
    """Correct, in place, the spec's slips that would reject what Karbon itself sends or asks for."""
    # `$skip` is capped at 100, yet every list pages through `@odata.nextLink` URLs that carry
    # `$skip=200`, `$skip=300`, ... (guides/06-pagination.md shows a count of 523 paged by 100).
    spec["components"]["parameters"]["SkipRecords"]["schema"].pop("maximum", None)
    # The `$orderby` parameters declare a default (`ClientGroupKey`, `OrganizationKey`) outside
    # their own enum, which would fail every request that leaves `$orderby` out.
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if "default" in schema and schema["default"] not in schema.get("enum", [schema["default"]]):
                    del schema["default"]
    # The document-wide `security` (AccessKey plus Bearer) would apply to webhook deliveries too; Karbon
    # sends those without the caller's API credentials, signed with the `Signature` header instead.
    for item in spec["webhooks"].values():
        for operation in item.values():
            operation["security"] = []


class _OpenAPIRequest:
    """An `httpx.Request` seen through openapi-core's request protocol."""

    def __init__(self, request: httpx.Request, webhook: str | None = None) -> None:
        self._request = request
        if webhook is not None:
            self.name = webhook
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self._request.url.scheme}://{self._request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "")


class _OpenAPIResponse:
    """An `httpx.Response` seen through openapi-core's response protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def data(self) -> bytes:
        return self._response.content

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "")

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.multi_items()))


def _explain(error: Exception) -> str:
    """The error and the schema errors under it, one per line."""
    lines = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        lines.append(f"  caused by {type(cause).__name__}: {cause}")
        for schema_error in getattr(cause, "schema_errors", ()):
            where = "/".join(str(part) for part in schema_error.absolute_path)
            lines.append(f"    at /{where}: {schema_error.message}")
        cause = cause.__cause__
    return "\n".join(lines)


def _describe(request: httpx.Request) -> str:
    return f"{request.method} {request.url}"


def validate_request(request: httpx.Request) -> None:
    """Raise `SpecViolation` unless the request matches an operation of KarbonAPI.json (auth headers too)."""
    try:
        karbon_openapi().validate_request(_OpenAPIRequest(request))
    except Exception as error:
        raise SpecViolation(f"request {_describe(request)}\n{_explain(error)}") from error


def validate_response(response: httpx.Response) -> None:
    """Raise `SpecViolation` unless the response is one its operation documents, with a valid body."""
    if response.status_code in GATEWAY_STATUSES:
        return
    request = response.request
    response.read()
    try:
        karbon_openapi().validate_response(_OpenAPIRequest(request), _OpenAPIResponse(response))
    except Exception as error:
        raise SpecViolation(
            f"response {response.status_code} to {_describe(request)}\n{_explain(error)}\nbody: {response.text[:2000]}"
        ) from error


def validate_webhook(request: httpx.Request, webhook: str = "contact") -> None:
    """Raise `SpecViolation` unless a webhook delivery matches the spec's `webhooks.<webhook>` entry."""
    try:
        karbon_openapi().validate_webhook_request(_OpenAPIRequest(request, webhook=webhook))
    except Exception as error:
        raise SpecViolation(f"webhook {_describe(request)}\n{_explain(error)}") from error


class SpecCheckingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and checks every `/v3/` request and response against KarbonAPI.json.

    Each violation is kept in `violations`; with `strict` (the default) it is also raised, which a plugin
    under test may catch, so assert `violations == []` at the end of a test as well. `check_requests=False`
    checks responses only, for tests that send Karbon a request its spec refuses on purpose.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, strict: bool = True, check_requests: bool = True) -> None:
        self.inner = inner
        self.strict = strict
        self.check_requests = check_requests
        self.violations: list[SpecViolation] = []

    def _check(self, check: Any, message: Any) -> None:
        try:
            check(message)
        except SpecViolation as violation:
            self.violations.append(violation)
            if self.strict:
                raise

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the request, send it through the inner transport, check the response."""
        checked = request.url.path.startswith("/v3/")
        if checked and self.check_requests:
            self._check(validate_request, request)
        response = await self.inner.handle_async_request(request)
        if checked:
            await response.aread()
            response.request = request
            self._check(validate_response, response)
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()
