"""GETs to the PVE API over urllib3, on a pool of kept-alive TLS connections.

Discovery sends about 120 GETs at 32 nodes, 32 at a time. Through requests and
proxmoxer each one cost ~2-3 ms of client CPU (and importing them ~0.15 s of every
`provision plan`); urllib3 alone (what requests runs on) keeps the connections alive
and costs a fraction of that, so the client is not what a no-op plan waits for (issue
#17, docs/bench.md). The trust rules are the endpoint's (provision.discover.endpoint):
the CA file, else the system store; a pinned SHA-256 fingerprint is checked by urllib3
right after the handshake, before a request (and so the token) is sent; `insecure`
verifies nothing. `HTTPS_PROXY`/`NO_PROXY` are honoured as requests did. Failures are
the typed errors the retrying `ApiClient` understands.
"""

from __future__ import annotations

import json
import os
import ssl
import warnings
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from urllib3 import exceptions as u3

from provision.discover.endpoint import Endpoint, pin_digest
from provision.discover.errors import ConnectError, HttpStatusError, RetryableError, TlsError
from provision.discover.presented import pin_advice

API_PREFIX = "/api2/json"
MAX_CONNECTIONS = 32
"""Kept-alive connections per API endpoint: discovery's widest wave (more are opened when
needed and closed after use, never waited for)."""
_NO_RETRY_BUT_STALE = urllib3.Retry(total=1, connect=0, read=1, redirect=0, status=0, other=0,
                                    raise_on_status=False)
"""One retry, for a GET whose kept-alive connection the server had closed meanwhile (GETs
are idempotent); every other failure goes to the ApiClient, which decides on retries."""


def tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    """The endpoint's trust as an SSL context: its CA file, the system store, or (for a pin
    or `insecure`) no chain check at all (urllib3 checks the pin)."""
    if endpoint.insecure or endpoint.fingerprint:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=endpoint.ca_file)


def _pool(endpoint: Endpoint, timeout: float) -> urllib3.PoolManager:
    """A pool manager for the endpoint's trust, through the environment's proxy unless
    NO_PROXY exempts the host."""
    pin = pin_digest(endpoint.fingerprint) if endpoint.fingerprint and not endpoint.insecure else None
    if endpoint.insecure:
        warnings.simplefilter("ignore", u3.InsecureRequestWarning)  # the CLI warns once itself
    options: dict[str, Any] = {
        "num_pools": 1, "maxsize": MAX_CONNECTIONS, "block": False, "retries": _NO_RETRY_BUT_STALE,
        "timeout": urllib3.Timeout(connect=timeout, read=timeout), "ssl_context": tls_context(endpoint),
    }
    if pin is not None or endpoint.insecure:
        options.update(cert_reqs="CERT_NONE", assert_hostname=False, assert_fingerprint=pin)
    if "https_proxy" in os.environ or "HTTPS_PROXY" in os.environ:  # urllib.request costs ~30 ms to import
        import urllib.request

        proxy = urllib.request.getproxies().get("https")
        if proxy and not urllib.request.proxy_bypass(endpoint.host):
            return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


class HttpsTransport:
    """GET `path` → the `data` of PVE's answer; raises HttpStatusError or a DiscoveryError.

    Thread-safe (urllib3's pool is): each call takes an idle connection or opens one.
    `close()` closes the idle ones."""

    def __init__(self, endpoint: Endpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._pool = _pool(endpoint, timeout)
        self._base = endpoint.url + API_PREFIX
        self._headers = {"Authorization": f"PVEAPIToken={endpoint.token_id}={endpoint.secret}",
                         "Accept": "application/json"}

    def close(self) -> None:
        self._pool.clear()

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        url = self._base + quote(path, safe="/:@!$&'()*+,;=-._~%") + (f"?{urlencode(params)}" if params else "")
        try:
            resp = self._pool.request("GET", url, headers=self._headers, redirect=False)
        except u3.MaxRetryError as exc:
            raise self._failure(exc.reason) from None
        except u3.HTTPError as exc:
            raise self._failure(exc) from None
        if resp.status >= 400:
            raise HttpStatusError(resp.status, _message(resp.data, resp.reason or ""))
        try:
            return json.loads(resp.data).get("data")
        except (ValueError, AttributeError):
            where = self.endpoint.describe()
            raise RetryableError(f"{where} answered GET {path} with something that is not PVE's JSON") from None

    def _failure(self, exc: BaseException | None) -> Exception:
        """urllib3's reason for a failed GET as the error discovery reports."""
        where = self.endpoint.describe()
        if isinstance(exc, u3.SSLError):
            if "Fingerprints did not match" in str(exc):
                return self._tls_error("certificate fingerprint does not match the pinned one")
            if _untrusted(exc):
                return self._tls_error("server certificate did not verify")
            # the handshake was cut (a reset, an EOF, a server that was still starting):
            # nothing says the certificate is wrong, so it is tried again like a dropped connection
            return RetryableError(f"TLS connection to {where} dropped during the handshake: {_cause(exc)}")
        if isinstance(exc, u3.NameResolutionError):
            return ConnectError(f"cannot resolve {self.endpoint.host}")
        if isinstance(exc, u3.TimeoutError) and not isinstance(exc, u3.NewConnectionError):
            return RetryableError(f"timeout talking to {where}")
        if isinstance(exc, u3.NewConnectionError):
            return ConnectError(f"cannot connect to {where}: connection refused or no route")
        if isinstance(exc, u3.ProxyError):
            return ConnectError(f"cannot reach {where} through the proxy: {exc}")
        return RetryableError(f"connection to {where} dropped")

    def _tls_error(self, why: str) -> TlsError:
        advice = pin_advice(self.endpoint.host, self.endpoint.port, self.endpoint.fingerprint)
        return TlsError(f"TLS error talking to {self.endpoint.describe()}: {why}; {advice}")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (urllib3 wraps the `ssl` error as an argument and as the cause)."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if e in out:
            continue
        out.append(e)
        todo += [a for a in e.args if isinstance(a, BaseException)]
        todo += [c for c in (e.__cause__, e.__context__) if c is not None]
    return out


def _untrusted(exc: BaseException) -> bool:
    """Whether a TLS failure says the server's certificate is not trusted (its chain or its
    name), as opposed to a handshake that was cut."""
    return any(isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
               or "doesn't match" in str(e) for e in _causes(exc))


def _cause(exc: BaseException) -> str:
    """The innermost reason of a failure, one line."""
    return " ".join(str(_causes(exc)[-1]).split()) or type(exc).__name__


def _message(body: bytes, reason: str) -> str:
    """PVE's reason for an error answer: the envelope's `message`, else the status line's."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    return str(message or reason).strip()


__all__ = ["HttpsTransport", "tls_context"]
