"""The release smoke check tells a working scoring service from a broken one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from churn.release import smoke

EXAMPLE = {"dataframe_split": {"columns": ["tenure"], "data": [[1.0], [30.0]]}}


def serve(predictions: object, status: int = 200) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/ping" else 404)
            self.end_headers()

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(predictions).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "serving_input_example.json"
    path.write_text(json.dumps(EXAMPLE), encoding="utf-8")
    return path


@pytest.fixture
def service(request) -> Iterator[str]:
    server = serve(*request.param)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "service",
    [({"predictions": [[0.9, 0.1], [0.2, 0.8]]},), ({"predictions": [0.1, 0.8]},), ([0.1, 0.8],)],
    indirect=True,
)
def test_one_probability_per_row_passes(service, example, capsys):
    assert smoke.main(["--url", service, "--example", str(example)]) == 0
    assert "smoke test passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        (({"predictions": [0.1]},), "for 2 row(s)"),
        (({"predictions": [0.1, 1.5]},), "outside [0, 1]"),
        (({"error": "boom"}, 500), "HTTP 500"),
    ],
    indirect=["service"],
)
def test_a_wrong_answer_fails(service, example, capsys, reason):
    assert smoke.main(["--url", service, "--example", str(example)]) == 1
    assert reason in capsys.readouterr().err


def test_a_service_that_never_comes_up_fails(example, capsys):
    server = serve([])
    url = f"http://127.0.0.1:{server.server_port}"
    server.server_close()
    assert smoke.main(["--url", url, "--example", str(example), "--timeout", "0.5"]) == 1
    assert "did not answer 200" in capsys.readouterr().err


def test_a_missing_example_is_reported_without_a_traceback(tmp_path, capsys):
    code = smoke.main(["--url", "http://127.0.0.1:9", "--example", str(tmp_path / "none.json")])
    assert code == 1
    assert "none.json" in capsys.readouterr().err
