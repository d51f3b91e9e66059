"""The egress proxy: default-deny network access for sandboxed code.

Room: an edge (STYLE.md's ``proxy/``). It listens on sockets it is given, checks
every request against the manifest's ``network`` rules (``_rules``), refuses
addresses that are not public unless a rule names them (``_ssrf``), terminates
TLS with a per-run CA where a rule needs to see inside (``_ca``), injects
credentials from the broker and strips them from what comes back (``_proxy``).
It does not know the sandbox: the facade hands it sockets made inside each
sandbox's network namespace.
"""

from enclosure.egress._ca import RunCA, upstream_context
from enclosure.egress._proxy import Binding, EgressProxy, RequestRecord
from enclosure.egress._rules import Grants, HostGrant, NetworkPolicy, Principal, Verdict
from enclosure.egress._ssrf import Resolver, SystemResolver, checked_address, refusal

__all__ = [
    "Binding",
    "EgressProxy",
    "Grants",
    "HostGrant",
    "NetworkPolicy",
    "Principal",
    "RequestRecord",
    "Resolver",
    "RunCA",
    "SystemResolver",
    "Verdict",
    "checked_address",
    "refusal",
    "upstream_context",
]
