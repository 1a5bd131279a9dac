"""Generated requests from the OpenAPI spec find no server error; a concurrent load sees none."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.integration.serve.conftest import Pipeline, Server

pytestmark = pytest.mark.slow

# Sustained concurrent load, sized by requests rather than seconds so that the test does the
# same work on any machine; only the absence of errors is asserted, never a timing.
REQUESTS_PER_CLIENT = int(os.environ.get("SERVE_LOAD_REQUESTS", "125"))
CONCURRENCY = 16


def test_schemathesis_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{server.url}/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", "25",
            "--seed", "1",
            "--generation-database", "none",
            "--workers", "2",
            "--no-color",
        ],
        cwd=tmp_path,  # schemathesis keeps a cache directory where it runs
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert server.alive()
    assert "Traceback" not in server.log.read_text()


async def _load(url: str, bodies: list[bytes], requests: int) -> tuple[Counter, int]:
    statuses: Counter = Counter()
    failures = 0
    cycle = itertools.cycle(bodies)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            for _ in range(requests):
                try:
                    response = await client.post(
                        "/invocations",
                        content=next(cycle),
                        headers={"Content-Type": "application/json"},
                    )
                except httpx.HTTPError:
                    failures += 1
                else:
                    statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses, failures


def test_concurrent_load_sees_no_errors(server: Server, pipeline: Pipeline) -> None:
    features = pipeline.features.iloc[:64]
    bodies = [
        json.dumps(
            {"dataframe_split": json.loads(features.iloc[[i]].to_json(orient="split", index=False))}
        ).encode()
        for i in range(len(features))
    ]
    statuses, failures = asyncio.run(_load(server.url, bodies, REQUESTS_PER_CLIENT))
    assert failures == 0
    assert statuses == {200: CONCURRENCY * REQUESTS_PER_CLIENT}
    assert server.alive()
