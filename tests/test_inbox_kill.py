"""A hub server killed with SIGKILL between intake and processing loses no accepted event and applies each once.

The server (tests/kill_target.py) runs in a subprocess on the memory plugin; every record it fetches is appended
to a log tagged with the server's life (1 before the kill, 2 after), so processing an event twice would show.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.memory_hub import memory_contract, signed, webhook_body
from tests.memory_system import T0

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
EVENTS = 12


class Server:
    """One life of the hub server in a subprocess."""

    def __init__(self, folder: Path, generation: int, *, slow: float = 0.0) -> None:
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.errors = (folder / f"server-{generation}.err").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.kill_target",
                str(folder),
                str(self.port),
                str(generation),
                "--slow",
                str(slow),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server stopped at start-up: {self.stderr()}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail("the server did not answer within 20 s")

    def deliver(self, remote_id: str) -> int:
        """POST the signed webhook announcing a change of ``remote_id``; return the status."""
        body = webhook_body("contact", remote_id)
        headers = signed(body, now=datetime.now(UTC), msg_id=f"msg_{remote_id}")
        return self.client.post("/webhooks/mem", content=body, headers=headers).status_code

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, exactly what a crash or an OOM killer does."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.client.close()
        self.errors.close()

    def stderr(self) -> str:
        return (self.folder / f"server-{self.process.args[4]}.err").read_text(errors="replace")


def prepare(folder: Path) -> list[str]:
    """The remote's records (one per event to come) and the contract; return the records' ids."""
    memory_contract(folder)
    ids = [f"R{n}" for n in range(1, EVENTS + 1)]
    rows = {i: {"Id": i, "Name": f"Client {i}", "Version": 0, "Modified": T0.isoformat()} for i in ids}
    (folder / "remote.json").write_text(json.dumps({"contact": rows}))
    return ids


def inbox_statuses(folder: Path) -> dict[str, str]:
    """Each inbox event's status by remote id, read as a separate process would."""
    with sqlite3.connect(folder / "hub.db") as db:
        return dict(db.execute("SELECT remote_id, status FROM inbox").fetchall())


def fetched(folder: Path, generation: int) -> Counter[str]:
    """How often each record was fetched in one life of the server."""
    path = folder / "fetched.log"
    lines = path.read_text().split() if path.exists() else []
    return Counter(record for life, record in zip(lines[::2], lines[1::2], strict=True) if life == str(generation))


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def assert_each_event_applied_once(folder: Path, ids: list[str], before_kill: dict[str, str]) -> None:
    """Every accepted event is done; each record was created at home once; nothing done before the kill ran again."""
    assert inbox_statuses(folder) == dict.fromkeys(ids, "done")
    with sqlite3.connect(folder / "hub.db") as db:
        names = [row[0] for row in db.execute("SELECT json_extract(fields, '$.name') FROM records")]
        links = [row[0] for row in db.execute("SELECT remote_id FROM links WHERE connection = 'mem'")]
        created = [row[0] for row in db.execute("SELECT remote_id FROM run_items WHERE action = 'created'")]
    assert sorted(names) == sorted(f"Client {i}" for i in ids)
    assert sorted(links) == sorted(ids) and sorted(created) == sorted(ids)
    first, second = fetched(folder, 1), fetched(folder, 2)
    assert max(first.values(), default=1) == 1, f"processed twice in one life: {first}"
    assert max(second.values(), default=1) == 1, f"processed twice in one life: {second}"
    finished_before = {i for i, status in before_kill.items() if status == "done"}
    assert not finished_before & set(second), "an event finished before the kill was processed again"
    assert set(ids) - finished_before <= set(second), "an event left unfinished by the kill was never processed"


def test_events_accepted_just_before_a_kill_are_processed_once_after_the_restart(tmp_path: Path):
    ids = prepare(tmp_path)
    server = Server(tmp_path, 1)
    statuses = [server.deliver(i) for i in ids] + [server.deliver(i) for i in ids[:3]]  # three replays
    server.kill()  # right after the last 200

    assert statuses == [200] * (EVENTS + 3)
    before_kill = inbox_statuses(tmp_path)
    assert set(before_kill) == set(ids), "an event answered 200 was not in the inbox"

    server = Server(tmp_path, 2)
    try:
        wait_for(lambda: set(inbox_statuses(tmp_path).values()) == {"done"}, "the inbox is all done")
    finally:
        server.kill()
    assert_each_event_applied_once(tmp_path, ids, before_kill)


def test_a_kill_while_workers_are_mid_way_loses_nothing_and_repeats_nothing_finished(tmp_path: Path):
    ids = prepare(tmp_path)
    server = Server(tmp_path, 1, slow=0.3)
    statuses = []
    for remote_id in ids:
        statuses.append(server.deliver(remote_id))
        time.sleep(0.15)  # a pause longer than inbox.BURST_GAP: the workers take up events as they come
    assert statuses == [200] * EVENTS
    wait_for(lambda: fetched(tmp_path, 1), "the workers have fetched a record")
    server.kill()

    before_kill = inbox_statuses(tmp_path)
    assert set(before_kill) == set(ids)
    assert set(before_kill.values()) != {"done"}, "the kill came too late to interrupt anything"

    server = Server(tmp_path, 2)
    try:
        wait_for(lambda: set(inbox_statuses(tmp_path).values()) == {"done"}, "the inbox is all done")
    finally:
        server.kill()
    assert_each_event_applied_once(tmp_path, ids, before_kill)
