"""Discovery: the live cluster (PVE REST API) -> the spec's `Cluster` model plus
`Observed` facts (identity, quorum, daemons) the planner needs.

Public surface; everything else in this package is an implementation detail.
"""

from provision.discover import bootstrap
from provision.discover.client import ApiClient, ProxmoxerTransport
from provision.discover.discover import Discovery, NodeClient, Responses, assemble, discover, fetch
from provision.discover.endpoint import Endpoint, from_connection, from_lab, from_url
from provision.discover.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectError,
    DiscoveryError,
    PermanentError,
    RetryableError,
    TlsError,
    UnavailableError,
    UnmodelledError,
)
from provision.discover.observed import MemberState, MonState, Observed, OsdState

__all__ = [
    "ApiClient",
    "ApiError",
    "AuthError",
    "ConfigError",
    "ConnectError",
    "Discovery",
    "DiscoveryError",
    "Endpoint",
    "MemberState",
    "MonState",
    "NodeClient",
    "Observed",
    "OsdState",
    "PermanentError",
    "ProxmoxerTransport",
    "Responses",
    "RetryableError",
    "TlsError",
    "UnavailableError",
    "UnmodelledError",
    "assemble",
    "bootstrap",
    "discover",
    "fetch",
    "from_connection",
    "from_lab",
    "from_url",
]
