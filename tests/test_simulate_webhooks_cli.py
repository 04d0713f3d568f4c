"""``hub simulate PLUGIN --webhook-url URL``: the simulator posts its signed webhooks to URL by itself."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from hub.cli import build_parser
from hub.verifiers import IntuitSignature, KarbonSignature
from tests.test_cli_commands import HUB, free_port, wait_for_http

KARBON_AUTH = {"Authorization": "Bearer sim-app-id", "AccessKey": "sim-access-key"}


class LocalHub(ThreadingHTTPServer):
    """A tiny webhook receiver on loopback, standing in for a hub: keeps each delivery's body and headers."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for_delivery(self, process: subprocess.Popen[str], seconds: float = 20.0) -> tuple[bytes, dict[str, str]]:
        """The first delivery, failing if none comes in time or the simulator stops."""
        deadline = time.monotonic() + seconds
        while not self.deliveries:
            assert process.poll() is None, f"the simulator stopped: {process.communicate()}"
            assert time.monotonic() < deadline, "no webhook arrived"
            time.sleep(0.05)
        return self.deliveries[0]


class _Handler(BaseHTTPRequestHandler):
    server: LocalHub

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.deliveries.append((body, dict(self.headers.items())))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def local_hub() -> Iterator[LocalHub]:
    server = LocalHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def simulate(plugin: str, port: int, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(HUB), "simulate", plugin, "--port", str(port), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> str:
    """Ctrl-C the simulator and return what it printed."""
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    return out


@pytest.mark.slow
def test_simulate_quickbooks_posts_a_signed_webhook_for_an_edit_by_itself(local_hub: LocalHub) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    target = f"{local_hub.url}/webhooks/quickbooks"
    simulator = simulate("quickbooks", port, "--webhook-url", target, "--webhook-every", "0.2")
    try:
        wait_for_http(f"{base}/_sim/calls", simulator)
        [customer] = httpx.post(f"{base}/_sim/seed", json={"Customer": [{"DisplayName": "Ann"}]}).json()["Customer"]
        edited = httpx.post(f"{base}/_sim/edit/Customer/{customer}", json={"CompanyName": "Ann Co"})
        assert edited.status_code == 200, edited.text

        body, headers = local_hub.wait_for_delivery(simulator)
    finally:
        out = stop(simulator)
    assert simulator.returncode == 0
    IntuitSignature().verify(body, headers, ["sim-verifier-token"])
    [event] = json.loads(body)
    assert (event["type"], event["intuitentityid"]) == ("qbo.customer.updated.v1", customer)
    assert 'webhooks: {"delivered": 1, "status": 200}' in out.splitlines()


@pytest.mark.slow
def test_simulate_intuit_pm_posts_a_signed_webhook_to_a_local_http_hub(local_hub: LocalHub) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    simulator = simulate("intuit_pm", port, "--webhook-url", f"{local_hub.url}/webhooks/karbon",
                         "--webhook-every", "0.2", "--webhook-secret", "the-hubs-signing-key")
    try:
        wait_for_http(f"{base}/_sim/calls", simulator)
        created = httpx.post(f"{base}/v3/Contacts", headers=KARBON_AUTH, json={"FirstName": "Ada", "LastName": "Baker"})
        assert created.status_code == 201, created.text

        body, headers = local_hub.wait_for_delivery(simulator)
    finally:
        stop(simulator)
    assert simulator.returncode == 0
    KarbonSignature().verify(body, headers, ["the-hubs-signing-key"])
    assert json.loads(body)["ResourcePermaKey"] == created.json()["ContactKey"]


@pytest.mark.slow
def test_simulate_refuses_a_webhook_url_the_simulator_would_not_accept() -> None:
    result = subprocess.run([str(HUB), "simulate", "intuit_pm", "--webhook-url", "http://hub.example/webhooks/karbon"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "hub: --webhook-url refused by the intuit_pm simulator: url 'http://hub.example/webhooks/karbon' must begin "
        "with https://, or be http://127.0.0.1 or http://localhost"
    )


@pytest.mark.parametrize("every", ["0", "-1", "soon", "nan", "inf"])
def test_webhook_every_must_be_a_positive_number_of_seconds(every: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "quickbooks", "--webhook-every", every])
    assert f"not a positive number of seconds: {every!r}" in capsys.readouterr().err
