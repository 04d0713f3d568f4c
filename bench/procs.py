"""Processes the benchmarks start: servers on loopback ports, one-shot jobs, and their memory.

Every child dies with the runner (``PR_SET_PDEATHSIG``), so an interrupted benchmark leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
"""The project folder: children run from here so ``python -m hub.cli`` and ``-m bench...`` resolve."""

RESULT_MARK = "BENCH_RESULT "
"""The prefix of the one line a job or a load generator prints its JSON result on."""

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # Linux only: the child gets SIGTERM when the runner exits, however it exits.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: ours, the project on the path, unbuffered output, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Server:
    """A server process on a loopback port, its output going to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def peak_rss_mb(self) -> float | None:
        """The most memory the server has held so far (VmHWM), in MiB."""
        return peak_rss_mb(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to stop (SIGTERM: uvicorn shuts down gracefully), then insist."""
        stop_process(self.process, timeout)


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    url: str,
    ready_path: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start a server and wait until ``ready_path`` answers; its output goes to ``log_dir/name.log``."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), cwd=ROOT, env=child_env(env), stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    server = Server(name, process, url, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before it was ready:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + ready_path, timeout=2.0).status_code < 500:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} was not ready after {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop one child we started: SIGTERM, then SIGKILL, waiting between each.

    Not SIGINT: uvicorn raises a caught SIGINT again once it has shut down, and the KeyboardInterrupt can cut
    ``hub serve``'s own clean-up short, leaving the store's thread alive and the process hanging.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)


@contextlib.contextmanager
def servers() -> Iterator[list[Server]]:
    """A list to put started servers in; every one is stopped on the way out, whatever happened."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def run_job(argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 1800.0) -> dict[str, Any]:
    """Run a one-shot Python job (``python -m ...``) to its end and return the JSON it printed as its result."""
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=child_env(env),
        capture_output=True,
        timeout=timeout,
        preexec_fn=_die_with_parent,
        check=False,
    )
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"job {' '.join(argv)} failed with {done.returncode}:\n{err[-3000:]}{out[-2000:]}")
    return parse_result(out, what=" ".join(argv))


def parse_result(output: str, *, what: str) -> dict[str, Any]:
    """The JSON on the last ``BENCH_RESULT`` line of a child's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise RuntimeError(f"{what} printed no result line:\n{output[-2000:]}")


def print_result(result: Mapping[str, Any]) -> None:
    """Print a job's result as its last line, for ``parse_result``."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def peak_rss_mb(pid: int | None = None) -> float | None:
    """A process's peak resident memory (VmHWM) in MiB: this one's when no pid is given; None if unknown."""
    return _status_field(pid, "VmHWM")


def rss_mb(pid: int | None = None) -> float | None:
    """A process's resident memory now (VmRSS) in MiB; None if unknown."""
    return _status_field(pid, "VmRSS")


def _status_field(pid: int | None, name: str) -> float | None:
    path = Path(f"/proc/{pid or 'self'}/status")
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def _tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""
