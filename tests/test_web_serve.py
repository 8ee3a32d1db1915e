"""`digibot serve` as a real process: builds the KB on a clean data dir, serves, and stops cleanly on SIGTERM.

One process for the whole module (start-up builds the KB, about a second) so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from knowledge.build import KB_FILENAME

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="needs POSIX signals")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, data: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m bot serve` on a free port with an empty DIGIBOT_DATA_DIR and no Telegram settings."""
    root = tmp_path_factory.mktemp("serve")
    data_dir = root / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "DIGIBOT_TRUST_PROXY")}
    env.update(DIGIBOT_DATA_DIR=str(data_dir), PORT=str(port), PYTHONUNBUFFERED="1")
    log_path = root / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=root, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"digibot serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if get_json(base + "/healthz")[0] == 200:
                break
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"digibot serve did not answer /healthz within 60 s:\n{log_path.read_text()}")
        time.sleep(0.1)
    yield proc, base, port, data_dir, log_path
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serve_builds_the_kb_and_answers_like_curl(server):
    proc, base, _, data_dir, _ = server
    assert (data_dir / KB_FILENAME).exists()  # built on start from a clean data dir
    status, health = get_json(base + "/healthz")
    assert status == 200 and health["status"] == "ok" and health["telegram"] == "disabled"
    status, answer = get_json(base + "/api/ask", json.dumps({"q": "iTaiwan 熱點有幾個"}).encode())
    assert status == 200 and "9,735" in answer["answer"]
    status, error = get_json(base + "/api/ask", b'{"q": ')
    assert status == 400 and error["error"] == "bad_request"


def test_serve_says_what_it_builds_and_which_address_to_open(server):
    _, _, port, _, log_path = server
    log = log_path.read_text(encoding="utf-8")
    assert log.index("building the knowledge base") < log.index("built knowledge base")  # a line while it builds
    assert f"open http://127.0.0.1:{port}/ in a browser" in log


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(server):
    proc, _, port, _, log_path = server
    body = json.dumps({"q": "iTaiwan 熱點有幾個"}, ensure_ascii=False).encode()
    head = (f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body[:10])  # the handler is now waiting for the rest of the body
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.3)
        sock.sendall(body[10:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 200"), response[:300]
    assert "9,735".encode() in rest
    assert proc.wait(timeout=15) == 0, log_path.read_text()
    assert time.monotonic() - signalled < 10
    # and it no longer listens
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert "Traceback" not in log_path.read_text()
