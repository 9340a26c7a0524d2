"""The discovery transport over real HTTPS: kept-alive connections, a connection the
server closed in between, error envelopes and the certificate pin.

The server is the standard library's HTTP/1.1 server with the lab's TLS material
(provision.lab.tls): these are properties of HTTP and TLS that every PVE API server
has (pveproxy keeps connections alive and closes idle ones; uvicorn under the lab
does the same), so no lab needs to be started for them. The lab-facing cases (pin,
CA, token) are in tests/cli/test_plan.py.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provision.discover import ApiClient, DiscoveryError, TlsError
from provision.discover.endpoint import Endpoint
from provision.discover.https import HttpsTransport
from provision.lab.tls import make_certs


class _Api:
    """A tiny PVE-shaped API: `/api2/json/version`, `/api2/json/missing` (a 500 with PVE's
    envelope); counts connections; `close_after_answer` drops each connection after
    answering without saying so (as a server whose keep-alive timeout passed)."""

    def __init__(self, tmp: Path) -> None:
        self.fingerprint = make_certs(tmp / "ca.pem", tmp / "server.pem", tmp / "server.key", "test")
        self.ca = str(tmp / "ca.pem")
        self.connections = 0
        self.requests = 0
        self.close_after_answer = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                api.connections += 1
                super().setup()

            def do_GET(self) -> None:
                api.requests += 1
                if self.headers.get("Authorization") != "PVEAPIToken=root@pam!t=s3cret":
                    status, body = 401, {"data": None}
                elif self.path == "/api2/json/version":
                    status, body = 200, {"data": {"version": "8.4.1"}}
                else:
                    status, body = 500, {"data": None, "message": "Ceph is not installed\n"}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                self.wfile.flush()
                if api.close_after_answer:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tmp / "server.pem"), str(tmp / "server.key"))
        self.cut_handshakes = 0
        """Connections to close before their TLS handshake (a server restarting, a reset)."""

        class Server(ThreadingHTTPServer):
            def get_request(self) -> tuple[Any, Any]:
                raw, addr = self.socket.accept()
                if api.cut_handshakes > 0:
                    api.cut_handshakes -= 1
                    raw.close()
                    raise OSError("cut before the handshake")  # socketserver drops this request
                return context.wrap_socket(raw, server_side=True), addr

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])

    def endpoint(self, **trust: Any) -> Endpoint:
        return Endpoint("127.0.0.1", self.port, "root@pam!t", "s3cret", **trust)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[_Api]:
    served = _Api(tmp_path)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_requests_share_one_kept_alive_connection(api: _Api) -> None:
    client = ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca)))
    assert [client.get("/version")["version"] for _ in range(5)] == ["8.4.1"] * 5
    assert (client.requests, api.connections) == (5, 1)


def test_a_connection_the_server_closed_is_replaced_without_a_failed_request(api: _Api) -> None:
    api.close_after_answer = True
    client = ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca)), sleep=lambda _: pytest.fail("retried"))
    assert [client.get("/version")["version"] for _ in range(3)] == ["8.4.1"] * 3
    assert (client.requests, api.connections) == (3, 3)


def test_pve_error_envelope_and_absent_answers(api: _Api) -> None:
    client = ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca)))
    assert client.get("/missing", optional=True) is None  # "not installed": absent, not an error
    assert client.requests == 1


def test_pin_is_checked_before_the_token_is_sent(api: _Api) -> None:
    pinned = ApiClient(HttpsTransport(api.endpoint(fingerprint=api.fingerprint)))
    assert pinned.get("/version")["version"] == "8.4.1"
    served = api.requests
    wrong = ApiClient(HttpsTransport(api.endpoint(fingerprint="AA:" * 31 + "AA")))
    with pytest.raises(TlsError, match="fingerprint does not match the pinned one"):
        wrong.get("/version")
    assert api.requests == served  # the connection was dropped before a request (and the token) was sent
    with pytest.raises(TlsError, match="did not verify"):
        ApiClient(HttpsTransport(api.endpoint())).get("/version")  # the test CA is not in the system store


def test_a_handshake_cut_short_is_tried_again_not_called_an_untrusted_certificate(api: _Api) -> None:
    """A connection closed during the TLS handshake says nothing about the certificate:
    the GET is tried again (urllib3 once, then the client, as for a dropped connection),
    and succeeds; when it never gets through, the error says what happened."""
    api.cut_handshakes = 2
    client = ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca)), sleep=lambda _: None)
    assert client.get("/version")["version"] == "8.4.1"
    assert client.requests >= 2 and api.requests == 1
    api.cut_handshakes = 100
    fresh = ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca)), sleep=lambda _: None)  # no kept-alive one
    with pytest.raises(DiscoveryError, match="failed after 4 attempt") as failed:
        fresh.get("/version")
    assert not isinstance(failed.value, TlsError) and "did not verify" not in str(failed.value)


def test_the_environments_https_proxy_is_used_unless_no_proxy_exempts_the_host(
        api: _Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on: the proxy is down
        closed.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("HTTPS_PROXY", dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(DiscoveryError):
        ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca)), sleep=lambda _: None).get("/version")
    assert api.requests == 0  # it went to the proxy, not to the server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert ApiClient(HttpsTransport(api.endpoint(ca_file=api.ca))).get("/version")["version"] == "8.4.1"
