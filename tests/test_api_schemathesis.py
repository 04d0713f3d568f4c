"""Schemathesis over /openapi.json, against the app in-process with an admin token: no request gets a 5xx.

Each operation is exercised three ways: valid input around ids that exist (so requests reach real syncs,
links and records), valid input with generated ids, and invalid input. Answers must also keep to the
documented status codes, content types and shapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette

from hub import inbox
from hub.types import WebhookEvent
from tests.api_fixtures import ADMIN_TOKEN, ApiRig, bearer, open_rig

ROUTER_MISSES = {"Not Found", "Method Not Allowed"}
"""Starlette's own plain-text answers for a path no route matches (a path id with a newline): not the API's."""


def api_content_type(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """The documented content type, for every answer an API route gave."""
    if response.status_code in (404, 405) and response.text in ROUTER_MISSES:
        return None
    return content_type_conformance(ctx, response, case)


def api_response_schema(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """The documented body shape, for every answer an API route gave."""
    if response.status_code in (404, 405) and response.text in ROUTER_MISSES:
        return None
    return response_schema_conformance(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, api_content_type, api_response_schema]


@contextmanager
def served_app(tmp_path: Path) -> Iterator[tuple[Starlette, dict[str, str]]]:
    """A seeded hub's app and ids that exist in it; schemathesis drives the app from its own event loop."""
    loop = asyncio.new_event_loop()
    try:
        rig_context = open_rig(tmp_path)
        rig: ApiRig = loop.run_until_complete(rig_context.__aenter__())
        try:
            known = loop.run_until_complete(_seed(rig))
            yield rig.app, known
        finally:
            loop.run_until_complete(rig_context.__aexit__(None, None, None))
    finally:
        loop.close()


async def _seed(rig: ApiRig) -> dict[str, str]:
    """Linked, unmatched and queued records, a run and a finished webhook event."""
    ada = await rig.home(name="Ada Lovelace", email="ada@example.com")
    await rig.home(name="Only At Home")
    rig.remote.add("contact", {"Name": "Ada Lovelace", "Title": "Countess"})
    rig.remote.add("contact", {"Name": "Only Remote"})
    rig.remote.add("staff", {"Name": "Sam Staff", "Email": "sam@example.com"})
    await rig.sync()
    await rig.admin.post("/api/records", json={"entity": "contact", "fields": {"name": "Queued"}})
    await inbox.accept(rig.hub.store, "mem", [WebhookEvent("contact", "R1", "update", "ev-1")], b"{}", at=rig.clock())
    claimed = await inbox.claim(rig.hub.store, at=rig.clock())
    await inbox.finish(rig.hub.store, [event["id"] for event in claimed], at=rig.clock())
    return {"name": "mem", "connection": "mem", "entity": "contact", "home_id": ada.id, "record": ada.id, "number": "1"}


def known_path(path: str, known: dict[str, str]) -> dict[str, str]:
    """Path values naming things that exist: the connection, entity type, a linked record, run and event 1."""
    values = {key: known[key] for key in ("name", "connection", "entity", "home_id")}
    values["id"] = known["record"] if path.startswith("/api/records") else known["number"]
    return values


@pytest.mark.parametrize(
    ("mode", "existing_ids"),
    [(GenerationMode.POSITIVE, True), (GenerationMode.POSITIVE, False), (GenerationMode.NEGATIVE, False)],
    ids=["valid-existing-ids", "valid-generated-ids", "invalid"],
)
def test_no_operation_answers_a_server_error_or_breaks_its_documented_shape(
    tmp_path: Path, mode: GenerationMode, existing_ids: bool
):
    with served_app(tmp_path) as (app, known):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            fixed = known_path(operation.path, known) if existing_ids else None
            query = {"entity": "contact"} if existing_ids else None

            @settings(
                max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
            )
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed, query=query))
            def exercise(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=bearer(ADMIN_TOKEN), checks=CHECKS)

            try:
                exercise()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing about this operation can be made invalid
            except Exception as exc:
                failures.append(f"{operation.label}: {exc}")
        assert not failures, "\n\n".join(failures)
