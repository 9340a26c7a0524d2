"""Discovery errors: retryable (try again later) versus permanent (fix something).

Like kopf's TemporaryError/PermanentError, the type decides what the caller does:
the client retries `RetryableError` with backoff and gives up with
`UnavailableError`; everything else stops at once with a one-line message that
names the cause. No message ever contains the API token.
"""

from __future__ import annotations


class DiscoveryError(Exception):
    """Base class: the live cluster could not be read."""


class HttpStatusError(DiscoveryError):
    """An HTTP error answer, before the client decides whether to retry (a transport raises it)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


class RetryableError(DiscoveryError):
    """A 5xx answer, a timeout or a dropped connection: worth another attempt."""


class PermanentError(DiscoveryError):
    """Retrying cannot help (bad credentials, TLS mismatch, unreachable host...)."""


class AuthError(PermanentError):
    """401/403: the token is wrong, expired or lacks privileges."""


class TlsError(PermanentError):
    """The server certificate did not verify (CA file or pinned fingerprint)."""


class ConnectError(PermanentError):
    """No TCP connection to the API (refused, no route, DNS)."""


class UnavailableError(PermanentError):
    """A retryable failure that persisted through every retry."""


class ApiError(PermanentError):
    """The API answered with a non-retryable error for a required endpoint."""

    def __init__(self, path: str, status: int, message: str) -> None:
        self.path = path
        self.status = status
        super().__init__(f"GET {path} failed: HTTP {status}: {message}")


class ConfigError(PermanentError):
    """The connection settings are unusable (missing lab, unreadable token...)."""


class UnmodelledError(PermanentError):
    """The cluster holds a value a stack cannot describe (outside the spec's range)."""
