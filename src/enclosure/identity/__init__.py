"""Identity: credentials fetched just in time, and run-scoped tokens.

The broker turns a manifest's ``credentials`` into secrets when the egress proxy
needs one for a request the network policy allowed, tells the proxy how to put it
on the request, and strips it from whatever comes back. ``RunTokens`` and
``verify_token`` give services the user controls short-lived tokens scoped to a
run, its tools and hosts.

Must not know: sockets, HTTP parsing, the proxy or the policy engine (the proxy
calls in with the principal, host and request parts), nor the decision log.
"""

from enclosure.identity._broker import CredentialBroker, Secret, encoded_forms
from enclosure.identity._sources import (
    COMMAND_TIMEOUT_S,
    CommandSource,
    EnvSource,
    FileSource,
    SecretSource,
    TokenSource,
    load_source,
)
from enclosure.identity._tokens import (
    ALGORITHM,
    ISSUER,
    Requester,
    RunTokens,
    TokenRefused,
    verify_token,
)

__all__ = [
    "ALGORITHM",
    "COMMAND_TIMEOUT_S",
    "ISSUER",
    "CommandSource",
    "CredentialBroker",
    "EnvSource",
    "FileSource",
    "Requester",
    "RunTokens",
    "Secret",
    "SecretSource",
    "TokenRefused",
    "TokenSource",
    "encoded_forms",
    "load_source",
    "verify_token",
]
