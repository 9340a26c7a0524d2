"""A stand-in PVE API that first records a lab's answers, then replays them.

Why: the lab spends its own CPU on every request (it reads pmxcfs state and builds
each answer), and it shares the machine's cores with the client being measured. A
ratio taken against the lab therefore depends on how slow the lab is. The replay
server answers the same GETs from memory with only the injected latency, so the
"pve-provision vs per-object refresh" ratio against it reflects the clients alone.

Use: ``Replay(lab_dir, latency_ms)`` starts the server in its own process (so it never
competes with the measured client for a GIL), on HTTPS with the lab's own certificate
(the client's trust settings stay valid). Until ``replay()`` every GET is forwarded to
the lab and its answer stored under (path, query); afterwards the same request is
answered from that store after ``latency_ms``. A request never recorded is a 404
counted in ``misses``. ``requests`` counts every request served, so a client run
against it has its request count measured from the server side.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

Key = tuple[str, str]


class Server:
    """Recording proxy and replay server on 127.0.0.1 (one port, the lab's main API).
    Runs in its own process (``main``), so it never competes for the bench's GIL."""

    def __init__(self, lab_dir: Path, latency_ms: float) -> None:
        conn: dict[str, Any] = json.loads((lab_dir / "connection.json").read_text())
        self.upstream = str(conn["api_url"]).rstrip("/")
        self.ca_file = str(conn["ca_file"])
        self.latency = latency_ms / 1000.0
        self.recording = True
        self.answers: dict[Key, tuple[int, bytes]] = {}
        self.requests = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(lab_dir / "tls" / "server.pem"), str(lab_dir / "tls" / "server.key"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"requests": self.requests, "misses": self.misses, "answers": len(self.answers)}

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def control(self, path: str) -> tuple[int, bytes]:
        """``/_replay/stats`` (counters) and ``/_replay/replay`` (stop recording): the
        bench's own requests, never counted."""
        if path == "/_replay/replay":
            self.recording = False
        return 200, json.dumps(self.stats()).encode()

    def answer(self, path: str, query: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if path.startswith("/_replay/"):
            return self.control(path)
        key = (path, "&".join(sorted(query.split("&"))) if query else "")
        with self._lock:
            self.requests += 1
        if self.recording:
            base = self.upstream.removesuffix("/api2/json")
            # verify per request: a session's own setting loses to REQUESTS_CA_BUNDLE
            resp = self._session().get(f"{base}{path}" + (f"?{query}" if query else ""), verify=self.ca_file,
                                       headers={"Authorization": headers.get("Authorization", "")})
            got = (resp.status_code, resp.content)
            with self._lock:
                self.answers[key] = got
            return got
        time.sleep(self.latency)
        found = self.answers.get(key)
        if found is None:
            with self._lock:
                self.misses += 1
            return 404, b'{"data":null,"message":"not recorded\\n"}'
        return found


class Replay:
    """The bench's handle on a replay server process: start, switch to replay, counters,
    and a PROVISION_HOME that points a client at it."""

    def __init__(self, lab_dir: Path, latency_ms: float) -> None:
        self.conn: dict[str, Any] = json.loads((lab_dir / "connection.json").read_text())
        self.ca_file = str(self.conn["ca_file"])
        self.proc = subprocess.Popen([sys.executable, __file__, str(lab_dir), str(latency_ms)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def _call(self, what: str) -> dict[str, int]:
        resp = requests.get(f"https://127.0.0.1:{self.port}/_replay/{what}", verify=self.ca_file, timeout=30)
        stats: dict[str, int] = resp.json()
        return stats

    def replay(self) -> None:
        """Stop recording: from now on every request is answered from memory."""
        self._call("replay")

    def stats(self) -> dict[str, int]:
        """``requests`` served, ``misses`` (never recorded), ``answers`` recorded."""
        return self._call("stats")

    def home(self, root: Path, lab: str) -> Path:
        """A PROVISION_HOME in which lab ``lab`` is this server (same CA and token), so the
        real CLI can be pointed at it with ``--lab`` like at the lab itself."""
        lab_dir = root / "labs" / lab
        lab_dir.mkdir(parents=True, exist_ok=True)
        conn = dict(self.conn, api_url=f"https://127.0.0.1:{self.port}/api2/json", node_api_urls={})
        (lab_dir / "connection.json").write_text(json.dumps(conn, indent=2))
        return root


def _handler(replay: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as pveproxy serves the clients

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            status, body = replay.answer(parts.path, parts.query, dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    """``replay.py LAB_DIR LATENCY_MS``: serve, print the port on the first line."""
    server = Server(Path(sys.argv[1]), float(sys.argv[2]))
    print(server.port, flush=True)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
