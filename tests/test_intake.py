"""Webhook intake at POST /webhooks/{connection}, through the app, as the memory system's deliveries reach it."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import hookimpl, inbox
from hub.app import create_app
from hub.intake import MAX_BODY
from hub.runtime import Hub
from hub.store import Store
from hub.types import WebhookEvent
from hub.verifiers import Verifier
from hub.workers import process_due
from tests.memory_hub import open_memory_hub, signed, webhook_body
from tests.memory_system import Clock, MemoryRemote, MemorySystem, contact_entity, contract_file

URL = "/webhooks/mem"


@pytest.fixture
def remote() -> MemoryRemote:
    return MemoryRemote(Clock())


@pytest.fixture
async def hub(tmp_path: Path, remote: MemoryRemote) -> AsyncIterator[Hub]:
    hub = await open_memory_hub(tmp_path, remote)
    yield hub
    await hub.close()


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(hub, background=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client


async def deliver(
    client: httpx.AsyncClient,
    hub: Hub,
    body: bytes,
    *,
    msg_id: str = "msg_1",
    now: datetime | None = None,
    url: str = URL,
) -> httpx.Response:
    """POST a body signed as the memory system signs it."""
    return await client.post(url, content=body, headers=signed(body, now=now or hub.clock(), msg_id=msg_id))


async def inbox_rows(hub: Hub) -> list[dict]:
    return await inbox.list_events(hub.store)


# --- accepted deliveries ------------------------------------------------------------------------------------------


async def test_a_signed_delivery_is_committed_to_the_inbox_before_the_answer(client, hub: Hub, tmp_path: Path):
    response = await deliver(client, hub, webhook_body("contact", "R1"))

    assert response.status_code == 200
    assert response.headers["x-hub-events"] == "1 new, 0 already received"
    # Another connection to the database sees the event: it was committed, not merely queued in memory.
    other = await Store.open(tmp_path / "hub.db")
    try:
        rows = await other.fetchall("SELECT connection, entity, remote_id, action, status FROM inbox")
    finally:
        await other.close()
    assert [tuple(row) for row in rows] == [("mem", "contact", "R1", "updated", "pending")]


async def test_a_replayed_delivery_is_accepted_and_processed_once(client, hub: Hub, remote: MemoryRemote):
    remote_id = remote.add("contact", {"Name": "Ada"})
    body = webhook_body("contact", remote_id)
    first = await deliver(client, hub, body, msg_id="msg_ada")
    await process_due(hub)
    hub.clock.tick(30)
    again = await deliver(client, hub, body, msg_id="msg_ada")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["x-hub-events"] == "0 new, 1 already received"
    assert await process_due(hub) == 0
    assert len(await hub.store.runs()) == 1
    assert [r["status"] for r in await inbox_rows(hub)] == ["done"]


class NoEventIdSystem(MemorySystem):
    """A vendor that gives its events no id of their own."""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        return [WebhookEvent(e.entity, e.remote_id, e.action) for e in super().parse_webhook(body, headers)]


async def test_without_a_vendor_event_id_a_resent_body_is_recognised_by_its_hash(tmp_path: Path, remote):
    hub = await open_memory_hub(tmp_path, remote, system=NoEventIdSystem)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(hub, background=False)), base_url="http://hub"
        ) as client:
            body = webhook_body("contact", "R1")
            await deliver(client, hub, body, msg_id="msg_a")
            again = await deliver(client, hub, body, msg_id="msg_b")
            other = await deliver(client, hub, webhook_body("contact", "R2"), msg_id="msg_c")
        assert again.headers["x-hub-events"] == "0 new, 1 already received"
        assert other.headers["x-hub-events"] == "1 new, 0 already received"
        assert len(await inbox_rows(hub)) == 2
    finally:
        await hub.close()


# --- refusals -----------------------------------------------------------------------------------------------------


async def test_a_delivery_without_signature_headers_is_refused_401(client, hub: Hub):
    response = await client.post(URL, content=webhook_body("contact", "R1"))
    assert response.status_code == 401
    assert response.json()["error"] == "missing header 'webhook-id'"
    assert await inbox_rows(hub) == []


async def test_a_delivery_signed_with_another_secret_is_refused_401(client, hub: Hub):
    body = webhook_body("contact", "R1")
    headers = signed(body, now=hub.clock(), secret="whsec_" + "QUFB" * 11)
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401 and "no v1 signature" in response.json()["error"]
    assert await inbox_rows(hub) == []


async def test_a_signed_body_changed_on_the_way_is_refused_401(client, hub: Hub):
    body = webhook_body("contact", "R1")
    headers = signed(body, now=hub.clock())
    response = await client.post(URL, content=webhook_body("contact", "R2"), headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("age", "status", "reason"),
    [
        (timedelta(minutes=4, seconds=59), 200, None),
        (timedelta(minutes=5, seconds=1), 401, "too old (301 s in the past)"),
        (-timedelta(minutes=4, seconds=59), 200, None),
        (-timedelta(minutes=5, seconds=1), 401, "too new (301 s in the future)"),
    ],
)
async def test_the_signed_timestamp_must_be_within_five_minutes_of_the_hubs_clock(
    client, hub: Hub, age: timedelta, status: int, reason: str | None
):
    response = await deliver(client, hub, webhook_body("contact", "R1"), now=hub.clock() - age)
    assert response.status_code == status
    if reason:
        assert reason in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-timestamp": "yesterday"},
        {"webhook-timestamp": "9" * 40},
        {"webhook-signature": "v1,not base64 at all"},
        {"webhook-signature": "v1,"},
        {"webhook-signature": "v1a,ed25519 only"},
        {"webhook-id": "ünïcödé".encode()},
        {"webhook-signature": b"v1,\xff\xfe"},
    ],
)
async def test_malformed_signature_headers_are_refused_401(client, hub: Hub, headers: dict):
    body = webhook_body("contact", "R1")
    response = await client.post(URL, content=body, headers={**signed(body, now=hub.clock()), **headers})
    assert response.status_code == 401


def test_any_bytes_in_the_signature_headers_get_401_never_a_server_error(tmp_path: Path):
    """Whatever bytes arrive in a signature header, the answer is 401 unless it is the genuine value."""
    loop = asyncio.new_event_loop()
    remote = MemoryRemote(Clock())
    hub = loop.run_until_complete(open_memory_hub(tmp_path, remote))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub, background=False)), base_url="http://hub"
    )
    body = webhook_body("contact", "R1")
    header_bytes = st.binary(max_size=80).filter(lambda b: not set(b) & set(b"\r\n\x00"))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(name=st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]), value=header_bytes)
    def check(name: str, value: bytes) -> None:
        genuine = signed(body, now=hub.clock(), msg_id="msg_1")
        response = loop.run_until_complete(client.post(URL, content=body, headers={**genuine, name: value}))
        assert response.status_code in (200, 401)
        if response.status_code == 200:  # only the genuine value passes, give or take blanks around it
            assert value.strip(b" \t").decode("latin-1") == genuine[name]

    try:
        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(hub.close())
        loop.close()


class ExplodingVerifier(Verifier):
    """A plugin's signature scheme built on a library that raises on a header it cannot read."""

    name = "exploding"

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime | None = None
    ) -> None:
        int(headers.get("x-exploding-signature", ""), 16)  # ValueError, as a library would raise

    def check(self, body: bytes, headers: Mapping[str, str], secrets: list[str], now: datetime) -> None:
        """Never reached: ``verify`` is overridden."""

    def sign(self, body: bytes, secret: str, *, now: datetime | None = None) -> dict[str, str]:
        return {}


class ExplodingPlugin:
    __name__ = "exploding"

    @hookimpl
    def register_verifiers(self, register: Callable[[Verifier], None]) -> None:
        register(ExplodingVerifier())


async def test_a_verifier_that_raises_anything_gives_401_not_500(tmp_path: Path, remote: MemoryRemote):
    contract = contract_file(tmp_path, {"contact": contact_entity([])}, webhook={"verifier": "exploding"})
    hub = await open_memory_hub(tmp_path, remote, contract=contract, plugins=(ExplodingPlugin(),))
    try:
        transport = httpx.ASGITransport(app=create_app(hub, background=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await client.post(URL, content=b"{}", headers={"x-exploding-signature": "zz"})
        assert response.status_code == 401
        assert "could not be checked" in response.json()["error"]
    finally:
        await hub.close()


class BuggyParser(MemorySystem):
    """A plugin whose webhook reader has a bug."""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        raise KeyError("data")


async def test_a_plugin_that_raises_reading_a_verified_body_answers_500_and_commits_nothing(
    tmp_path: Path, remote: MemoryRemote
):
    hub = await open_memory_hub(tmp_path, remote, system=BuggyParser)
    try:
        transport = httpx.ASGITransport(app=create_app(hub, background=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await deliver(client, hub, webhook_body("contact", "R1"))
            documented = (await client.get("/openapi.json")).json()["paths"][URL.replace("mem", "{connection}")]
        # 5xx, not 4xx: the vendor keeps the delivery and sends it again once the plugin is fixed.
        assert response.status_code == 500
        assert response.json()["error"] == "the BuggyParser plugin could not read the body: KeyError: 'data'"
        assert await inbox_rows(hub) == []
        assert "500" in documented["post"]["responses"]
    finally:
        await hub.close()


# --- bodies that are too large ------------------------------------------------------------------------------------


async def test_a_body_over_one_mebibyte_is_refused_413(client, hub: Hub):
    body = b" " * (MAX_BODY + 1)
    response = await deliver(client, hub, body)
    assert response.status_code == 413
    assert await inbox_rows(hub) == []


async def test_a_chunked_body_over_one_mebibyte_without_a_length_is_refused_413_before_it_is_all_read(client, hub):
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB in all
            sent.append(1)
            yield b" " * 65536

    response = await client.post(URL, content=chunks(), headers=signed(b"", now=hub.clock()))

    assert response.status_code == 413
    assert response.request.headers.get("content-length") is None
    assert len(sent) <= 20, "the hub read far past the limit"
    assert await inbox_rows(hub) == []


async def test_a_body_of_exactly_one_mebibyte_is_taken(client, hub: Hub):
    head = webhook_body("contact", "R1")
    body = head + b" " * (MAX_BODY - len(head))
    response = await deliver(client, hub, body)
    assert response.status_code == 200


# --- bodies that are not what the vendor sends ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "invalid JSON at line 1 column 1"),
        (b"[" * 65 + b"]" * 65, "JSON is nested 65 levels deep; the limit is 64"),
        (b'{"type": "contact.updated", "data": {"id": "R1", "score": NaN}}', "NaN is not a JSON number"),
        (b'{"type": "contact.updated", "type": "contact.deleted", "data": {"id": "R1"}}', "duplicate key 'type'"),
        (b'{"type": "contact.updated", "data": {}}', "'data.id' must name the changed record"),
        (b'{"type": "contactupdated", "data": {"id": "R1"}}', "'type' must be text like 'contact.updated'"),
        (b"\xff\xfe", "body is not valid UTF-8"),
        (b'["contact.updated"]', "the body is a JSON list, not an object"),
    ],
)
async def test_a_signed_body_the_vendor_would_not_send_is_refused_400_naming_what_is_wrong(
    client, hub: Hub, body: bytes, reason: str
):
    response = await deliver(client, hub, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert await inbox_rows(hub) == []


async def test_json_nested_64_deep_is_read(client, hub: Hub):
    data = {"id": "R1"}
    for _ in range(62):
        data = {"id": "R1", "deeper": data}
    body = json.dumps({"type": "contact.updated", "data": data}).encode()
    assert body.count(b"{") == 64
    assert (await deliver(client, hub, body)).status_code == 200


# --- connections that take no webhooks ----------------------------------------------------------------------------


async def test_an_unknown_connection_is_404(client, hub: Hub):
    response = await deliver(client, hub, webhook_body("contact", "R1"), url="/webhooks/nope")
    assert response.status_code == 404 and response.json()["error"] == "no connection named 'nope'"


async def test_a_connection_whose_system_sends_no_webhooks_is_404(tmp_path: Path, remote: MemoryRemote):
    contract = contract_file(tmp_path, {"contact": contact_entity([])})
    hub = await open_memory_hub(tmp_path, remote, contract=contract)
    try:
        transport = httpx.ASGITransport(app=create_app(hub, background=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await deliver(client, hub, webhook_body("contact", "R1"))
        assert response.status_code == 404 and response.json()["error"] == "Memory sends no webhooks"
    finally:
        await hub.close()


async def test_a_connection_without_a_webhook_secret_refuses_every_delivery_401(tmp_path: Path, remote):
    hub = await open_memory_hub(tmp_path, remote)
    hub.config.connections["mem"].secrets.clear()
    try:
        transport = httpx.ASGITransport(app=create_app(hub, background=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await deliver(client, hub, webhook_body("contact", "R1"))
        assert response.status_code == 401 and "no webhook secret is configured" in response.json()["error"]
    finally:
        await hub.close()


# --- XML only through defusedxml ------------------------------------------------------------------------------------

XML_PARSERS = {
    "fromstring",
    "fromstringlist",
    "parse",
    "iterparse",
    "XML",
    "XMLID",
    "XMLParser",
    "XMLPullParser",
    "parseString",
    "make_parser",
    "expatbuilder",
    "pulldom",
    "sax",
    "minidom",
    "expat",
}


def xml_parsing_outside_defusedxml(source: str) -> list[str]:
    """Where a module reaches a standard-library or lxml XML parser directly, by line."""
    found: list[str] = []
    modules: set[str] = set()  # names bound to standard-library XML modules
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lxml":
                    found.append(f"line {node.lineno}: imports {alias.name}")
                elif alias.name.split(".")[0] in ("xml", "pyexpat"):
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root == "lxml":
                found.append(f"line {node.lineno}: imports from {node.module}")
            elif root in ("xml", "pyexpat"):
                for alias in node.names:
                    if alias.name in XML_PARSERS or alias.name in ("ElementTree", "cElementTree", "dom"):
                        found.append(f"line {node.lineno}: imports {alias.name} from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in XML_PARSERS:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"line {node.lineno}: uses {base.id}...{node.attr}")
    return found


def test_the_xml_check_finds_a_direct_parser():
    assert xml_parsing_outside_defusedxml("import xml.etree.ElementTree as ET\nET.fromstring(b'<a/>')\n")
    assert xml_parsing_outside_defusedxml("from xml.dom.minidom import parseString\n")
    assert xml_parsing_outside_defusedxml("import lxml.etree\n")
    assert not xml_parsing_outside_defusedxml("from xml.etree.ElementTree import Element, SubElement, tostring\n")
    assert not xml_parsing_outside_defusedxml("from defusedxml.ElementTree import fromstring\n")


def test_no_module_of_the_hub_or_its_plugins_parses_xml_without_defusedxml():
    root = Path(__file__).resolve().parent.parent
    offenders = {
        str(path.relative_to(root)): where
        for folder in ("hub", "plugins")
        for path in sorted((root / folder).rglob("*.py"))
        if (where := xml_parsing_outside_defusedxml(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
