"""The tool router: handlers, argument and result validation, interceptors.

Must not know: the policy verdict (the run asks the policy before routing), storage,
or any backend (sandboxes and MCP upstreams plug in as handlers).
"""

from enclosure.router._router import (
    AsyncInterceptor,
    HandlerProblem,
    Interceptor,
    Route,
    ToolRouter,
    import_callable,
)
from enclosure.router._schema import (
    ArgsValidator,
    Checked,
    SchemaProblem,
    ValueValidator,
)

__all__ = [
    "ArgsValidator",
    "AsyncInterceptor",
    "Checked",
    "HandlerProblem",
    "Interceptor",
    "Route",
    "SchemaProblem",
    "ToolRouter",
    "ValueValidator",
    "import_callable",
]
