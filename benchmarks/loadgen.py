"""A lean closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending the next
request as soon as the previous answer is read.

Written on raw asyncio streams because a full client (httpx, aiohttp) spends more CPU per request
than the servers under test, and on a 2-core machine the client shares the cores with them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    rows: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    # Filled in by the caller: the server's CPU time over the run (seconds), when it measured it.
    cpu_s: float = float("nan")

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_s / self.requests if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def request_bytes(host: str, port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def get_bytes(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: keep-alive\r\n\r\n".encode()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    requests: itertools.cycle,
    *,
    rows_per_request: int,
    deadline: float,
    result: Result,
    interval: float = 0.0,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(next(requests))
            status = await _read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.rows += rows_per_request
            else:
                result.errors += 1
            if interval:
                # A probe: the next request starts one interval after this one started (or at
                # once if this one took longer), so a slow answer is not hidden by fewer probes.
                await asyncio.sleep(max(0.0, started + interval - time.perf_counter()))
    finally:
        writer.close()


@dataclass(frozen=True)
class Load:
    """One stream of traffic: `concurrency` connections cycling through prebuilt `requests`."""

    requests: list[bytes]
    concurrency: int
    rows_per_request: int = 1
    # Seconds between the starts of two requests on one connection; 0: closed loop.
    interval: float = 0.0


async def _run(host: str, port: int, loads: list[Load], seconds: float) -> list[Result]:
    results = [Result() for _ in loads]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                itertools.cycle(load.requests[i :: load.concurrency] or load.requests),
                rows_per_request=load.rows_per_request,
                deadline=deadline,
                result=result,
                interval=load.interval,
            )
            for load, result in zip(loads, results, strict=True)
            for i in range(load.concurrency)
        )
    )
    for result in results:
        result.seconds = time.perf_counter() - started
    return results


def _runner():
    try:
        import uvloop

        return uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with the service extra
        return asyncio.run


def run_together(host: str, port: int, loads: list[Load], *, seconds: float) -> list[Result]:
    """Send every load at the same time for `seconds`; one Result per load, in order.

    A probe is a load of concurrency 1: it measures what one client sees while the others
    keep the server busy.
    """
    return _runner()(_run(host, port, loads, seconds))


def run(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    rows_per_request: int,
    concurrency: int,
    seconds: float,
) -> Result:
    """Send `requests` (prebuilt HTTP messages, cycled) for `seconds`; every request counts."""
    load = Load(requests, concurrency, rows_per_request)
    return run_together(host, port, [load], seconds=seconds)[0]
