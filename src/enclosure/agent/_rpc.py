"""The agent protocol, sans I/O: one JSON-RPC 2.0 request line in, one answer out.

The socket server (``_server``) frames lines and hands them here; this module
parses, checks and dispatches them to the run, and never raises: every request
that cannot be served gets a JSON-RPC error whose ``data.code`` is a stable
``E-...`` code, and a bug in a method becomes ``E-RPC-INTERNAL`` (logged here,
never sent as a traceback). Methods:

- ``tools/list``: the manifest's tools (``{"tools": [...]}``).
- ``tools/call`` ``{tool, args, context?, approval_id?}``: ``run.call``; the answer
  is the ``CallResult`` as JSON, value included. Refusals are results, not errors.
- ``run/info``: run id, status, limits, usage and remaining budget.
- ``run/prompt``: the sandbox-aware system prompt (``{"prompt": str}``).

Requests without an ``id`` are notifications: JSON-RPC forbids answering them,
and a tool call nobody hears the outcome of is never useful, so they are dropped.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure.agent._prompt import system_prompt
from enclosure.agent._summary import compute_limits, kill_limits, tool_summaries
from enclosure.client import DEFAULT_SOCKET, MAX_MESSAGE
from enclosure.errors import EnclosureError

if TYPE_CHECKING:
    from collections.abc import Callable

    from enclosure._enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.types import JSONObject

__all__ = ["PARSE_ERROR", "Dispatcher", "Fault", "error_line"]

logger = logging.getLogger("enclosure")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""JSON-RPC 2.0's reserved error numbers; ``data.code`` refines each."""

MAX_TOOL_NAME = 256
MAX_APPROVAL_ID = 128
_CALL_PARAMS = frozenset({"tool", "args", "context", "approval_id"})

MAX_ID = 256
RequestId = str | int | None


class Fault(NamedTuple):
    """One JSON-RPC error: its number, our stable code, and a one-line message."""

    rpc_code: int
    code: str
    message: str
    closed: bool = False
    """True when the server hangs up after sending it."""


def error_line(request_id: RequestId, fault: Fault) -> bytes:
    """The answer line for ``fault``."""
    data: JSONObject = {"code": fault.code}
    if fault.closed:
        data["closed"] = True
    answer = {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": fault.rpc_code, "message": fault.message, "data": data},
    }
    return json.dumps(answer, separators=(",", ":")).encode("utf-8") + b"\n"


def _result_line(request_id: RequestId, result_json: str) -> bytes:
    head = json.dumps(request_id)
    text = f'{{"jsonrpc":"2.0","id":{head},"result":{result_json}}}'
    return text.encode("utf-8") + b"\n"


class _Refused(Exception):
    """Internal: stops a method and carries the ``Fault`` to answer."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


def _params_fault(message: str) -> _Refused:
    return _Refused(Fault(INVALID_PARAMS, "E-RPC-PARAMS", message))


class Dispatcher:
    """Serves the agent protocol for one run; thread-safe as ``Run.call`` is."""

    def __init__(
        self,
        enc: Enclosure,
        run: Run,
        *,
        socket: str = DEFAULT_SOCKET,
        max_message: int = MAX_MESSAGE,
    ) -> None:
        """Serve ``run`` of ``enc``; ``socket`` is the path the agent sees."""
        self.enc = enc
        self.run = run
        self.socket = socket
        self.max_message = max_message
        self._methods: dict[str, Callable[[Any], str]] = {
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "run/info": self._run_info,
            "run/prompt": self._run_prompt,
        }

    def handle(self, line: bytes) -> bytes | None:
        """Answer one request line (without its newline); ``None`` for none.

        Never raises: every failure becomes an error answer.
        """
        try:
            request = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            fault = Fault(PARSE_ERROR, "E-RPC-PARSE", "the request is not JSON")
            return error_line(None, fault)
        if not isinstance(request, dict):
            what = "batches are not supported" if isinstance(request, list) else ""
            fault = Fault(
                INVALID_REQUEST,
                "E-RPC-INVALID",
                what or "a request must be a JSON object",
            )
            return error_line(None, fault)
        if "id" not in request:
            return None  # a notification: nothing is answered, nothing runs
        request_id = request["id"]
        if not _valid_id(request_id):
            fault = Fault(
                INVALID_REQUEST,
                "E-RPC-INVALID",
                f"id must be a string (at most {MAX_ID} characters) or an integer",
            )
            return error_line(None, fault)
        try:
            return self._dispatch(request_id, request)
        except _Refused as exc:
            return error_line(request_id, exc.fault)
        except EnclosureError as exc:
            return error_line(request_id, Fault(SERVER_ERROR, exc.code, exc.message))
        except Exception:  # the protocol boundary: a bug answers, never a traceback
            logger.exception("agent request %.64r failed", request.get("method"))
            fault = Fault(
                INTERNAL_ERROR, "E-RPC-INTERNAL", "internal error; see the host's log"
            )
            return error_line(request_id, fault)

    def _dispatch(self, request_id: RequestId, request: JSONObject) -> bytes:
        method = request.get("method")
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            raise _Refused(
                Fault(
                    INVALID_REQUEST,
                    "E-RPC-INVALID",
                    'a request needs "jsonrpc": "2.0" and a string "method"',
                )
            )
        handler = self._methods.get(method)
        if handler is None:
            known = ", ".join(sorted(self._methods))
            raise _Refused(
                Fault(
                    METHOD_NOT_FOUND,
                    "E-RPC-METHOD",
                    f"no method {method[:64]!r}; the methods are {known}",
                )
            )
        line = _result_line(request_id, handler(request.get("params")))
        if len(line) > self.max_message:
            raise _Refused(
                Fault(
                    SERVER_ERROR,
                    "E-RPC-RESULT-TOO-LARGE",
                    f"the answer is longer than {self.max_message} bytes; the call "
                    "(if any) was still decided and logged",
                )
            )
        return line

    # ---- methods: each returns its result as JSON text -------------------------

    def _tools_list(self, params: Any) -> str:
        _no_params(params)
        tools = tool_summaries(self.enc.manifest, self._schemas())
        return json.dumps({"tools": [t.to_json() for t in tools]})

    def _tools_call(self, params: Any) -> str:
        if not isinstance(params, dict):
            msg = "tools/call needs params {tool, args, context?, approval_id?}"
            raise _params_fault(msg)
        if unknown := set(params) - _CALL_PARAMS:
            names = sorted(unknown)[:5]
            msg = f"unknown params {names}; expected {sorted(_CALL_PARAMS)}"
            raise _params_fault(msg)
        tool = params.get("tool")
        if not isinstance(tool, str) or not 0 < len(tool) <= MAX_TOOL_NAME:
            msg = f"tool must be a tool's name (1 to {MAX_TOOL_NAME} characters)"
            raise _params_fault(msg)
        context = params.get("context")
        if context is not None and not isinstance(context, dict):
            raise _params_fault("context must be an object")
        approval_id = params.get("approval_id")
        if approval_id is not None and (
            not isinstance(approval_id, str) or len(approval_id) > MAX_APPROVAL_ID
        ):
            raise _params_fault("approval_id must be a string")
        # Arguments of the wrong type go through: the run logs them as invalid.
        args = params.get("args")
        result = self.run.call(tool, args, context=context, approval_id=approval_id)
        return result.model_dump_json(fallback=repr)

    def _run_info(self, params: Any) -> str:
        _no_params(params)
        run, manifest = self.run, self.enc.manifest
        st = run.state
        usage = {
            "calls": st.calls,
            "executed": st.executed,
            "simulated": st.simulated,
            "pending": st.pending,
            "denials": st.denials,
            "errors": st.errors,
            "cost": st.cost,
        }
        ks = manifest.kill_switch
        remaining: JSONObject = {}
        if ks.max_calls is not None:
            remaining["calls"] = max(ks.max_calls - st.calls, 0)
        if ks.max_cost is not None:
            remaining["cost"] = max(ks.max_cost - st.cost, 0.0)
        if ks.max_denials is not None:
            remaining["denials"] = max(ks.max_denials - st.denials, 0)
        info = {
            "run_id": run.id,
            "agent": run.agent,
            "task": run.task,
            "status": run.status,
            "killed": st.killed,
            "manifest_sha256": manifest.sha256,
            "socket": self.socket,
            "kill_switch": kill_limits(manifest),
            "compute": compute_limits(manifest),
            "usage": usage,
            "remaining": remaining,
        }
        return json.dumps(info)

    def _run_prompt(self, params: Any) -> str:
        _no_params(params)
        text = system_prompt(self.enc.manifest, self._schemas(), socket=self.socket)
        return json.dumps({"prompt": text})

    def _schemas(self) -> dict[str, JSONObject]:
        return {r.name: r.args.json_schema for r in self.enc.router.routes()}


def _valid_id(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_ID
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _no_params(params: Any) -> None:
    if params not in (None, {}, []):
        raise _params_fault("this method takes no params")
