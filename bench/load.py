"""The load generator: ``wrk`` with ``sign.lua`` where it is installed, else an asyncio + httpx one.

Both send the same requests (one signed QuickBooks CloudEvent each, a fresh event id every time) over a fixed
number of keep-alive connections for a fixed time, or until interrupted (SIGINT: they stop and report), and
report the same figures: requests, duration, p50/p99 latency and errors.

``python -m bench.load URL --duration S --connections C`` is the fallback generator, run in its own process so
it never shares an interpreter with what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procs import RESULT_MARK, child_env, parse_result, print_result
from bench.rig import REALM, VERIFIER_TOKEN

LUA = Path(__file__).with_name("sign.lua")


@dataclass
class LoadResult:
    """What one load run measured."""

    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int

    @property
    def rps(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The result with its rate, as results.json keeps it."""
        return {**asdict(self), "rps": round(self.rps, 1)}


def generator_name(choice: str = "auto") -> str:
    """``wrk`` when asked for or (``auto``) installed, else ``httpx``."""
    if choice == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk), use --load httpx")
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    return choice


@dataclass
class Load:
    """A load run in progress: stop it early with ``stop()``, collect it with ``result()``."""

    generator: str
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    def stop(self, *, at_least: float = 2.0) -> None:
        """Interrupt the run (not before ``at_least`` seconds): both generators stop and report what they measured.

        A generator interrupted before it has set up its handler would die without a report.
        """
        time.sleep(max(0.0, self.started + at_least - time.monotonic()))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def result(self, timeout: float) -> LoadResult:
        """Wait for the run to end and read its figures."""
        out, err = self.process.communicate(timeout=timeout)
        text = out.decode(errors="replace")
        if RESULT_MARK not in text:
            raise RuntimeError(f"{self.generator} printed no result:\n{text[-2000:]}\n{err.decode()[-2000:]}")
        raw = parse_result(text, what=self.generator)
        return LoadResult(
            generator=self.generator,
            requests=int(raw["requests"]),
            seconds=raw["duration_us"] / 1e6,
            p50_ms=raw["p50_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
            errors=int(raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]),
            non_2xx=int(raw["non_2xx"]),
        )


def start_load(url: str, *, seconds: float, connections: int, ids: int, prefix: str, generator: str) -> Load:
    """Start a run of ``seconds`` (whole seconds for wrk) of signed webhooks against ``url``."""
    env = {"BENCH_TOKEN": VERIFIER_TOKEN, "BENCH_REALM": REALM, "BENCH_IDS": str(max(ids, 1)), "BENCH_PREFIX": prefix}
    if generator == "wrk":
        # One thread leaves the other core to the server; wrk's one thread drives far more than Python serves.
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ]
    else:
        argv = [_python(), "-m", "bench.load", url, "--duration", str(seconds), "--connections", str(connections)]
    process = subprocess.Popen(
        argv,
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    return Load(generator, process)


def run_load(url: str, *, seconds: float, connections: int, ids: int, prefix: str, generator: str) -> LoadResult:
    """One run of fixed length."""
    load = start_load(url, seconds=seconds, connections=connections, ids=ids, prefix=prefix, generator=generator)
    return load.result(timeout=seconds + 60)


def _python() -> str:
    import sys

    return sys.executable


# --- the fallback generator ------------------------------------------------------------------------------------


def _body(prefix: str, number: int, ids: int) -> bytes:
    return (
        f'[{{"specversion":"1.0","id":"{prefix}-{number}","source":"intuit.bench","type":"qbo.customer.updated.v1",'
        f'"datacontenttype":"application/json","time":"2026-11-02T09:00:00.000000Z",'
        f'"intuitentityid":"{number % ids + 1}","intuitaccountid":"{REALM}","data":{{}}}}]'
    ).encode()


async def _generate(url: str, duration: float, connections: int) -> dict[str, Any]:
    from hub.verifiers import sign_intuit

    token = os.environ.get("BENCH_TOKEN", VERIFIER_TOKEN)
    ids = int(os.environ.get("BENCH_IDS", "1000"))
    prefix = os.environ.get("BENCH_PREFIX", "bench")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    latencies: list[float] = []
    errors = non_2xx = 0
    counter = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal counter, errors, non_2xx
        while not stop.is_set():
            counter += 1
            body = _body(prefix, counter, ids)
            headers = {"Content-Type": "application/json", "intuit-signature": sign_intuit(body, token)}
            sent = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if not 200 <= response.status_code < 300:
                non_2xx += 1

    # One client per connection: a single client's pool shared by many tasks is what slows httpx under load.
    clients = [httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=10.0) for _ in range(connections)]
    started = time.perf_counter()
    tasks = [asyncio.create_task(worker(client)) for client in clients]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=duration)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": int(cuts[49] * 1e6),
        "p99_us": int(cuts[98] * 1e6),
        "max_us": int(max(latencies, default=0) * 1e6),
        "connect_errors": errors,
        "read_errors": 0,
        "write_errors": 0,
        "timeouts": 0,
        "non_2xx": non_2xx,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the fallback generator and print its result line."""
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    print_result(asyncio.run(_generate(args.url, args.duration, args.connections)))


if __name__ == "__main__":
    main()
