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

import asyncio
import json
import ssl
import subprocess
import sys
import threading
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests

Key = tuple[str, str]


class Server:
    """Recording proxy and replay server on 127.0.0.1 (one port, the lab's main API).

    asyncio serves every connection concurrently: TLS handshakes, the injected latency
    (``asyncio.sleep``) and the answers of one client's many connections overlap, as they
    do on pveproxy, so a client's figure is its own time and never a queue in this
    server. Runs in its own process (``main``), so it never competes for the bench's GIL."""

    def __init__(self, lab_dir: Path, latency_ms: float) -> None:
        conn: dict[str, Any] = json.loads((lab_dir / "connection.json").read_text())
        self.upstream = str(conn["api_url"]).rstrip("/")
        self.ca_file = str(conn["ca_file"])
        self.latency = latency_ms / 1000.0
        self.recording = True
        self.answers: dict[Key, tuple[int, bytes]] = {}
        self.requests = 0
        self.misses = 0
        self._local = threading.local()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(lab_dir / "tls" / "server.pem"), str(lab_dir / "tls" / "server.key"))

    def stats(self) -> dict[str, int]:
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

    def _forward(self, path: str, query: str, authorization: str) -> tuple[int, bytes]:
        base = self.upstream.removesuffix("/api2/json")
        # verify per request: a session's own setting loses to REQUESTS_CA_BUNDLE
        resp = self._session().get(f"{base}{path}" + (f"?{query}" if query else ""), verify=self.ca_file,
                                   headers={"Authorization": authorization})
        return resp.status_code, resp.content

    async def answer(self, path: str, query: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if path.startswith("/_replay/"):
            return self.control(path)
        key = (path, "&".join(sorted(query.split("&"))) if query else "")
        self.requests += 1
        if self.recording:  # the lab answers (in a thread: its request blocks)
            got = await asyncio.to_thread(self._forward, path, query, headers.get("authorization", ""))
            self.answers[key] = got
            return got
        await asyncio.sleep(self.latency)
        found = self.answers.get(key)
        if found is None:
            self.misses += 1
            return 404, b'{"data":null,"message":"not recorded\\n"}'
        return found

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One kept-alive HTTP/1.1 connection: GETs, one after the other, until it closes."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                parts = urllib.parse.urlsplit(target)
                status, body = await self.answer(parts.path, parts.query, headers) if method == "GET" else (
                    501, b'{"data":null}')
                writer.write(f"HTTP/1.1 {status} {HTTPStatus(status).phrase if status in _PHRASES else 'Status'}"
                             f"\r\nContent-Type: application/json;charset=UTF-8\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ValueError):
            pass
        finally:
            writer.close()

    async def run(self) -> None:
        server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=self.context, backlog=512)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()


_PHRASES = {s.value for s in HTTPStatus}


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


def main() -> None:
    """``replay.py LAB_DIR LATENCY_MS``: serve, print the port on the first line."""
    asyncio.run(Server(Path(sys.argv[1]), float(sys.argv[2])).run())


if __name__ == "__main__":
    main()
