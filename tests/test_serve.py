"""`hub serve` in a real process: Ctrl-C or SIGTERM after serving webhooks ends it promptly, its store closed."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from hub.verifiers import sign_intuit

pytestmark = pytest.mark.slow

REALM = "9341453000000000"
VERIFIER = "serve-test-verifier-token"
ADMIN = "serve-test-admin-token-0123456789"

# The vendor's address is the hub's own: its 404s fail the webhook's sync, but leave a connection open in the
# client's pool, as real traffic does, for the shutdown to close.
CONFIG = """
[hub]
database = "{database}"
listen = "127.0.0.1:{port}"

[users.admin]
role = "admin"
token_env = "SERVE_TEST_ADMIN_TOKEN"

[connections.quickbooks]
plugin = "quickbooks"
base_url = "http://127.0.0.1:{port}"
[connections.quickbooks.options]
realm_id = "{realm}"
[connections.quickbooks.secrets]
access_token = "SERVE_TEST_QBO_TOKEN"
webhook_verifier_token = "SERVE_TEST_VERIFIER"
"""


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_hub(folder: Path) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    """Run `hub serve` on a free port with a fresh store in ``folder``; return it once it answers."""
    port = free_port()
    config = folder / "hub.toml"
    config.write_text(CONFIG.format(database=folder / "hub.db", port=port, realm=REALM))
    env = {"PATH": "/usr/bin:/bin", "HUB_CONFIG": str(config), "SERVE_TEST_ADMIN_TOKEN": ADMIN,
           "SERVE_TEST_QBO_TOKEN": "qbo-token", "SERVE_TEST_VERIFIER": VERIFIER}
    with (folder / "serve.err").open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", "from hub.cli import main; raise SystemExit(main())", "serve"],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=errors,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hub serve stopped at start-up: {(folder / 'serve.err').read_text()}")
        try:
            if client.get("/healthz").status_code == 200:
                return process, client
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("hub serve did not answer within 20 s")


def deliver_webhook(client: httpx.Client) -> int:
    """POST a signed QuickBooks webhook announcing a customer change; return the status."""
    body = json.dumps({"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": [
        {"name": "Customer", "id": "58", "operation": "Update", "lastUpdated": "2026-01-05T09:00:00Z"}]}}]}).encode()
    headers = {"content-type": "application/json", "intuit-signature": sign_intuit(body, VERIFIER)}
    return client.post("/webhooks/quickbooks", content=body, headers=headers).status_code


def inbox_attempts(database: Path) -> list[tuple[str, int]]:
    """Each inbox event's remote id and attempts, read as another process would (and closed at once)."""
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT remote_id, attempts FROM inbox").fetchall()


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)], ids=["ctrl-c", "sigterm"])
def test_hub_serve_stops_promptly_with_its_store_closed_after_serving_webhooks(
    tmp_path: Path, stop: signal.Signals, status: int
):
    process, client = start_hub(tmp_path)
    try:
        assert deliver_webhook(client) == 200
        assert client.get("/api/connections", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
        deadline = time.monotonic() + 10
        while inbox_attempts(tmp_path / "hub.db") != [("58", 1)]:  # a worker tried it (the vendor is unreachable)
            assert time.monotonic() < deadline, "no worker took up the webhook's event"
            time.sleep(0.05)
    finally:
        client.close()

    process.send_signal(stop)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"hub serve still ran 10 s after {stop.name}: {(tmp_path / 'serve.err').read_text()}")

    assert not (tmp_path / "hub.db-wal").exists(), "the store was not closed (its write-ahead log is still there)"
    assert code == status, (tmp_path / "serve.err").read_text()
    with closing(sqlite3.connect(tmp_path / "hub.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert inbox_attempts(tmp_path / "hub.db") == [("58", 1)]
