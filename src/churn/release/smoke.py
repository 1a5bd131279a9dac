"""Smoke-test a running model service: `/ping` answers, and one `/invocations` request scores.

The release workflow runs it against the freshly built container before pushing it; it works
against any server speaking the MLflow/SageMaker scoring protocol (`make serve`, the image,
`mlflow models serve`). The request is the model's own serving example, so it always matches
the signature. Standard library only: it runs where the project is not installed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class SmokeError(RuntimeError):
    """The service is not up, or answered something other than one score per row."""


def _request(url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"} if body else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until_up(base_url: str, timeout: float) -> float:
    """Poll `/ping` until it answers 200; return the seconds it took."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        try:
            status, _ = _request(f"{base_url}/ping", timeout=2.0)
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        else:
            if status == 200:
                return time.monotonic() - start
            last = f"HTTP {status}"
        time.sleep(0.2)
    raise SmokeError(f"{base_url}/ping did not answer 200 within {timeout:.0f} s ({last})")


def _rows(example: dict[str, Any]) -> int:
    split = example.get("dataframe_split") or {}
    return len(split.get("data") or example.get("dataframe_records") or [])


def _scores(answer: Any) -> list[Any]:
    # MLflow wraps predictions as {"predictions": [...]}; accept a bare list too.
    return answer.get("predictions", []) if isinstance(answer, dict) else answer


def invoke(base_url: str, example: dict[str, Any]) -> list[float]:
    """Post the example to `/invocations`; return one probability per row or raise."""
    status, body = _request(f"{base_url}/invocations", json.dumps(example).encode())
    if status != 200:
        raise SmokeError(f"/invocations answered HTTP {status}: {body[:300]!r}")
    scores = _scores(json.loads(body))
    rows = _rows(example)
    if not isinstance(scores, list) or len(scores) != rows:
        raise SmokeError(f"/invocations returned {body[:300]!r} for {rows} row(s)")
    values = [float(s[-1] if isinstance(s, list) else s) for s in scores]
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise SmokeError(f"/invocations returned scores outside [0, 1]: {values}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churn.release.smoke", description=__doc__)
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument(
        "--example", type=Path, required=True, help="the model's serving_input_example.json"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for /ping")
    args = parser.parse_args(argv)
    base_url = args.url.rstrip("/")
    try:
        example = json.loads(args.example.read_text(encoding="utf-8"))
        seconds = wait_until_up(base_url, args.timeout)
        scores = invoke(base_url, example)
    except (SmokeError, OSError, ValueError) as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return 1
    print(f"smoke test passed: /ping after {seconds:.1f} s, /invocations scored {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
