"""Claude Code hooks and the Claude Agent SDK's ``can_use_tool``: one decision each.

Claude Code starts one hook process per tool call, so this module imports only the
standard library and the enclosure at import time (the Agent SDK only inside
``can_use_tool``), and the run lives in the decision log, not in memory:

- **Tools.** The manifest tool is named exactly as Claude's tool (``Bash``,
  ``Read``, ``Write``, ``Edit``, ``MultiEdit``, ``Glob``, ``Grep``, ``WebFetch``,
  ``WebSearch``, ``Task``, ..., and ``mcp__server__tool`` for MCP tools); its
  ``args`` are the event's ``tool_input`` unchanged (``args.command``,
  ``args.file_path``, ``args.url``, ...). A tool the manifest does not declare is
  denied. Conditions also see ``context`` (``tool_context``, the same for the
  Agent SDK): ``cwd``, ``project_dir``, ``home``, ``enclosure_home``,
  ``manifest``, ``session_id``, ``permission_mode``, ``tool_use_id``, ``paths``
  (every path the call names, absolute and symlink-free) and, for Bash, the
  line read as Bash reads it (``_shell``): ``commands`` (each simple command's
  ``program``, ``argv``, ``paths``, ``hosts``, ``sources``, ``repeats``,
  ``written``), ``argv`` (all their words) and ``opaque`` (the line hides
  something the reader cannot follow).
- **Runs.** The session id is the run (``run_id_for``): every hook process resumes
  it from the log (``Enclosure.resume_run``) under a file lock, so rate limits,
  the kill switch and approvals hold across processes.
- **Outcomes** (``PreToolUse``): allow → ``allow``; deny → ``deny`` with the reason
  Claude reads; approve → ``ask`` (Claude Code asks the human; the enclosure's
  approval stays pending, and one granted with ``enclosure approvals approve``
  lets the same call through next time); simulate → ``deny`` saying the call was
  simulated and not run (a coding agent's tools cannot be simulated, and letting
  them run would not be a simulation); kill → ``deny`` with ``continue: false``
  and a ``stopReason``, so Claude Code stops. ``PostToolUse`` (and
  ``PostToolUseFailure``) record the call's ``result`` event; for a call the
  enclosure never decided they log an ``alert`` (``claude_code.unguarded_call``)
  naming the tool and its input's digest.
- **Fail closed.** Malformed or oversized input, a missing manifest, an unknown
  tool, an unreadable log or any bug answers ``deny`` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from enclosure._home import default_home
from enclosure.errors import EnclosureError, ManifestError, UsageError
from enclosure.integrations._common import model_text, require
from enclosure.integrations._hook_client import MAX_EVENT_BYTES, answer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator

    from enclosure import Enclosure, Run
    from enclosure.models import CallResult
    from enclosure.types import JSONObject

__all__ = [
    "BUILTIN_TOOLS",
    "MAX_EVENT_BYTES",
    "EnclosureCache",
    "Verdict",
    "can_use_tool",
    "decide",
    "handle_event",
    "hook",
    "main",
    "record",
    "result_hooks",
    "run_id_for",
    "settings",
    "tool_context",
]

BUILTIN_TOOLS = (
    "Bash",
    "BashOutput",
    "Edit",
    "Glob",
    "Grep",
    "KillShell",
    "MultiEdit",
    "NotebookEdit",
    "Read",
    "Task",
    "TodoWrite",
    "WebFetch",
    "WebSearch",
    "Write",
)
"""Claude Code's built-in tools; each is the manifest tool of the same name."""

Permission = Literal["allow", "deny", "ask"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the enclosure answers for one tool call, in Claude's terms."""

    permission: Permission
    reason: str
    stop: bool = False
    """The run was killed: the agent must stop, not just skip this call."""
    result: CallResult | None = None


def run_id_for(session_id: str) -> str:
    """The run a Claude Code session maps to: the same in every hook process."""
    return "run_cc_" + hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:20]


def decide(
    run: Run,
    tool: str,
    tool_input: JSONObject,
    *,
    context: JSONObject | None = None,
) -> Verdict:
    """Decide one call by Claude (hook or SDK) and log it; the caller runs the tool.

    An approval a human granted for exactly this call (same run, tool and
    arguments) is used, once.

    Raises:
        UsageError: the run has ended (``E-RUN-ENDED``).
        AuditUnavailable: the log cannot be read (writes fail closed in the run).
    """
    approval_id = _granted(run, tool, tool_input)
    result = run.propose(tool, tool_input, context=context, approval_id=approval_id)
    d = result.decision
    if result.status == "dispatched":
        return Verdict("allow", f"[enclosure] allowed ({d.rule})", result=result)
    if result.status == "pending":
        reason = (
            f"[enclosure] {tool} needs a human's approval: {d.reason}. Approve it "
            f"here, or with `enclosure approvals approve {result.approval_id}`."
        )
        return Verdict("ask", reason, result=result)
    if result.status == "simulated":
        reason = (
            f"[enclosure] {tool} is in simulate mode, so it was not run "
            f"({d.rule}); preview: {json.dumps(result.value, default=str)[:500]}"
        )
        return Verdict("deny", reason, result=result)
    return Verdict(
        "deny", model_text(result), stop=result.status == "killed", result=result
    )


def _granted(run: Run, tool: str, tool_input: JSONObject) -> str | None:
    from enclosure.approvals import binding_sha256  # noqa: PLC0415 -- hook cold start

    try:
        binding = binding_sha256(run.id, tool, tool_input)
    except (TypeError, ValueError):
        return None
    log = run.enclosure.log
    for approval in log.list_approvals(status="approved", run_id=run.id):
        if approval.binding_sha256 == binding:
            return approval.approval_id
    return None


# --- the hook -------------------------------------------------------------------


class _BadEvent(ValueError):
    """The hook's input cannot be a Claude Code event."""


def _parse(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_EVENT_BYTES:
        msg = f"hook input is larger than {MAX_EVENT_BYTES} bytes"
        raise _BadEvent(msg)
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"hook input is not JSON ({type(exc).__name__})"
        raise _BadEvent(msg) from None
    if not isinstance(event, dict):
        msg = "hook input is not a JSON object"
        raise _BadEvent(msg)
    for key in ("session_id", "hook_event_name"):
        value = event.get(key)
        if not isinstance(value, str) or not value or len(value) > 256:  # noqa: PLR2004 -- ids are short
            msg = f"hook input has no valid {key!r}"
            raise _BadEvent(msg)
    return event


def _check_tool(event: dict[str, Any]) -> None:
    if event["hook_event_name"] in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        if not isinstance(event.get("tool_name"), str) or not event["tool_name"]:
            msg = "hook input has no valid 'tool_name'"
            raise _BadEvent(msg)
        if not isinstance(event.get("tool_input"), dict):
            msg = "hook input's 'tool_input' is not an object"
            raise _BadEvent(msg)


def _context(enc: Enclosure, event: dict[str, Any]) -> JSONObject:
    return tool_context(
        enc,
        event["tool_input"],
        agent="claude-code",
        session_id=event["session_id"],
        cwd=str(event.get("cwd") or Path.cwd()),
        permission_mode=str(event.get("permission_mode") or ""),
        tool_use_id=str(event.get("tool_use_id") or ""),
    )


def tool_context(
    enc: Enclosure,
    tool_input: JSONObject,
    *,
    agent: str,
    session_id: str,
    cwd: str,
    permission_mode: str = "",
    tool_use_id: str = "",
) -> JSONObject:
    """The ``context`` rules see for one Claude tool call, hook or SDK alike.

    Paths are absolute and symlink-free (``os.path.realpath``), so a rule compares
    them with ``context.project_dir`` and ``context.enclosure_home`` as they are.
    """
    from enclosure.integrations import _shell as shell  # noqa: PLC0415 -- cold start
    from enclosure.manifest import manifest_source  # noqa: PLC0415

    project = os.path.realpath(os.environ.get("CLAUDE_PROJECT_DIR") or cwd)
    home = str(Path.home())
    source = manifest_source(enc.manifest).file
    context: JSONObject = {
        "agent": agent,
        "session_id": session_id,
        "cwd": cwd,
        "project_dir": project,
        "home": home,
        "permission_mode": permission_mode,
        "tool_use_id": tool_use_id,
        "enclosure_home": os.path.realpath(enc.home),
        "manifest": "" if source.startswith("<") else os.path.realpath(source),
        "argv": [],
        "commands": [],
        "opaque": False,
        "paths": [],
    }
    command = tool_input.get("command")
    if isinstance(command, str):
        parsed = shell.parse(command, os.path.join(project, cwd), home)  # noqa: PTH118
        context["commands"] = [c.as_json() for c in parsed.commands]
        context["argv"] = [w for c in parsed.commands for w in c.argv]
        context["paths"] = [p for c in parsed.commands for p in c.paths]
        context["opaque"] = parsed.opaque
        context["opaque_why"] = parsed.why
    else:
        named = [tool_input.get(k) for k in ("file_path", "path", "notebook_path")]
        context["paths"] = [
            os.path.realpath(os.path.join(cwd, os.path.expanduser(p)))  # noqa: PTH111, PTH118
            for p in named
            if isinstance(p, str) and p
        ]
    return context


def _pre(verdict: Verdict) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": verdict.permission,
            "permissionDecisionReason": verdict.reason,
        }
    }
    if verdict.stop:
        answer["continue"] = False
        answer["stopReason"] = verdict.reason
    return answer


def _deny(reason: str) -> dict[str, Any]:
    return _pre(Verdict("deny", "[enclosure] " + " ".join(reason.split())[:500]))


@contextlib.contextmanager
def _locked(home: Path, run_id: str) -> Iterator[None]:
    """One hook process at a time decides calls of one run (parallel tool calls)."""
    folder = home / "locks"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(folder / f"{run_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _run_for(enc: Enclosure, session_id: str) -> Run:
    """The session's run: held by a loaded enclosure, else rebuilt, else started.

    A decision server keeps its enclosure, and so its runs, loaded;
    ``handle_event`` brings a held run up to date with what other processes
    decided (``Run.exclusively``).
    """
    run_id = run_id_for(session_id)
    try:
        return enc.get_run(run_id)
    except UsageError:
        pass
    try:
        return enc.resume_run(run_id)
    except UsageError as exc:
        if exc.code != "E-RUN-UNKNOWN":
            raise
    return enc.start_run(
        task=f"claude-code session {session_id}",
        started_by="claude-code",
        run_id=run_id,
    )


def handle_event(enc: Enclosure, event: dict[str, Any]) -> dict[str, Any]:
    """Answer one parsed hook event for ``enc``; the caller holds the run's lock.

    Other processes decide calls of the session too (a hook that decided in its
    own process, the Agent SDK): under the run's lock in the log, the run counts
    in what they logged since it last looked (only that: a long session is not
    replayed per call) and takes on a kill or end made elsewhere.

    Raises:
        EnclosureError: the run has ended or the log cannot be used.
    """
    name = event["hook_event_name"]
    if name not in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        return {}
    run = _run_for(enc, event["session_id"])
    tool, tool_input = event["tool_name"], event["tool_input"]
    with run.exclusively():
        run.refresh()
        if name == "PreToolUse":
            return _pre(decide(run, tool, tool_input, context=_context(enc, event)))
        record(run, event)
    return {}


def record(run: Run, event: dict[str, Any]) -> None:
    """Log what became of a call: a ``PostToolUse``/``PostToolUseFailure`` event.

    The call ``decide`` let through gets its ``result`` event; a call the
    enclosure never decided gets an ``alert``, never nothing.

    Raises:
        EnclosureError: the log cannot be used.
    """
    tool, tool_input = event["tool_name"], event["tool_input"]
    failed = event["hook_event_name"] != "PostToolUse"
    call_id = run.open_call(tool, tool_input)
    if call_id is None:
        _unguarded(run, tool, tool_input, failed=failed)
    elif not failed:
        run.record_result(call_id, value=event.get("tool_response"))
    else:
        error = str(event.get("error") or "the tool failed")
        run.record_result(call_id, error=error[:500])


def _unguarded(run: Run, tool: str, tool_input: JSONObject, *, failed: bool) -> None:
    """Log that a tool ran with no decision from the enclosure: never drop it.

    A result with no open call (allowed, or parked for a human) means the hook
    never decided this call: it was not in front of the ``PreToolUse``, or its
    answer was not heeded. The log must show that the tool ran anyway; only the
    input's digest is logged.
    """
    from enclosure._clock import iso  # noqa: PLC0415 -- cold start
    from enclosure._json import sha256_json  # noqa: PLC0415
    from enclosure.audit import AlertEvent  # noqa: PLC0415

    try:
        digest = sha256_json(tool_input)
    except (TypeError, ValueError):
        digest = "unhashable"
    how = "failed" if failed else "ran"
    enc = run.enclosure
    enc.log.append(
        AlertEvent(
            run_id=run.id,
            ts=iso(enc.clock.time()),
            severity="warning",
            rule="claude_code.unguarded_call",
            message=(
                f"{tool} {how} without a decision from the enclosure (no "
                f"PreToolUse allowed or parked it); input sha256 {digest}"
            ),
        )
    )


class EnclosureCache:
    """Enclosures kept loaded by a process that answers many events (``_hookd``).

    One per (manifest, home); it is loaded again when the manifest's bytes, or
    the environment it read (``redact.env`` values, ``ENCLOSURE_DB_SYNC``),
    change, and dropped after any failure that may have left it unusable.
    """

    def __init__(self, limit: int = 8) -> None:
        self._limit = limit
        self._loaded: dict[tuple[Path, Path], tuple[str, Enclosure]] = {}

    @staticmethod
    def _stamp(data: bytes, names: Iterable[str]) -> str:
        digest = hashlib.sha256(data)
        for name in ("ENCLOSURE_DB_SYNC", *names):
            digest.update(f"\0{name}={os.environ.get(name)}".encode())
        return digest.hexdigest()

    def get(self, manifest: Path, home: Path) -> Enclosure:
        """The enclosure for ``manifest`` as it is now.

        Raises:
            ManifestError: as ``Enclosure.load``.
            AuditUnavailable: the log cannot be opened.
        """
        from enclosure._enclosure import Enclosure  # noqa: PLC0415 -- cold start

        key = (manifest, home)
        try:
            data = manifest.read_bytes()
        except OSError:
            self.discard(manifest, home)
            return Enclosure.load(manifest, home=home)  # raises the coded error
        held = self._loaded.get(key)
        if held is not None:
            stamp, enc = held
            if stamp == self._stamp(data, enc.manifest.redact.env):
                return enc
            self.discard(manifest, home)
        enc = Enclosure.load(manifest, home=home)
        if len(self._loaded) >= self._limit:
            self.discard(*next(iter(self._loaded)))
        self._loaded[key] = (self._stamp(data, enc.manifest.redact.env), enc)
        return enc

    def discard(self, manifest: Path, home: Path) -> None:
        """Forget (and close the log of) one loaded enclosure."""
        held = self._loaded.pop((manifest, home), None)
        if held is not None:
            with contextlib.suppress(Exception):
                held[1].log.close()  # not enc.close(): that would end the runs

    def close(self) -> None:
        """Forget them all."""
        for key in list(self._loaded):
            self.discard(*key)


def hook(
    raw: bytes,
    manifest: Path,
    home: Path | None = None,
    *,
    cache: EnclosureCache | None = None,
) -> dict[str, Any]:
    """The whole hook: one event's bytes in, the JSON to print out; never raises.

    Every failure answers ``deny`` for a ``PreToolUse`` (and nothing otherwise),
    with a one-line reason: fail closed. With a ``cache`` the enclosure stays
    loaded for the next event (the decision server); without, it is loaded for
    this event and its log closed after.
    """
    pre = True
    try:
        event = _parse(raw)
        pre = event["hook_event_name"] == "PreToolUse"
        _check_tool(event)
        return _answer(event, manifest, home, cache)
    except _BadEvent as exc:
        return _deny(str(exc)) if pre else {}
    except ManifestError as exc:
        first = exc.issues[0].format() if exc.issues else str(exc)
        return _deny(f"manifest {manifest}: {first}") if pre else {}
    except EnclosureError as exc:
        return _deny(f"{exc.code}: {exc.message}") if pre else {}
    except OSError as exc:  # the lock file under the home
        return _deny(f"E-HOOK-IO: {exc.strerror or exc}") if pre else {}
    except Exception as exc:  # the hook's top level: a bug denies, in one line
        if os.environ.get("ENCLOSURE_DEBUG"):
            raise
        return _deny(f"E-INTERNAL: unexpected {type(exc).__name__}") if pre else {}


def _answer(
    event: dict[str, Any],
    manifest: Path,
    home: Path | None,
    cache: EnclosureCache | None,
) -> dict[str, Any]:
    from enclosure._enclosure import Enclosure  # noqa: PLC0415 -- cold start

    home = home or default_home()
    if cache is None:
        enc = Enclosure.load(manifest, home=home)
    else:
        enc = cache.get(manifest, home)
    try:
        with _locked(home, run_id_for(event["session_id"])):
            return handle_event(enc, event)
    except Exception as exc:
        if cache is not None and not isinstance(exc, UsageError):
            cache.discard(manifest, home)  # it may be broken: load afresh next time
        raise
    finally:
        if cache is None:
            enc.log.close()  # not enc.close(): that would end the session's run


def settings(manifest: Path, home: Path | None = None) -> dict[str, Any]:
    """The ``settings.json`` snippet that puts the hook in front of every tool.

    The command is the ``enclosure`` script beside this interpreter (it answers a
    hook before loading the rest of the CLI, the fastest start), else ``python -m``
    this module.
    """
    script = Path(sys.executable).with_name("enclosure")
    if script.is_file() and os.access(script, os.X_OK):
        argv = [str(script)]
        if home is not None:
            argv += ["--home", str(home.resolve())]
        argv += ["hook", "claude-code", "--manifest", str(manifest.resolve())]
    else:
        argv = [sys.executable, "-m", "enclosure.integrations.claude_code"]
        argv += ["--manifest", str(manifest.resolve())]
        if home is not None:
            argv += ["--home", str(home.resolve())]
    entry = [
        {
            "matcher": "*",
            "hooks": [{"type": "command", "command": shlex.join(argv), "timeout": 30}],
        }
    ]
    events = ("PreToolUse", "PostToolUse", "PostToolUseFailure")
    return {"hooks": dict.fromkeys(events, entry)}


def main(argv: list[str] | None = None) -> int:
    """``python -m enclosure.integrations.claude_code --manifest M [--home H]``.

    The light entry point (no click, no CLI): what ``settings`` puts in
    ``settings.json``. ``--print-settings`` prints that snippet instead.
    ``--no-server`` decides in this process, as ``ENCLOSURE_HOOK_SERVER=off``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    manifest: Path | None = None
    home: Path | None = None
    print_settings = "--print-settings" in args
    for flag in ("--manifest", "--home"):
        if flag in args:
            at = args.index(flag)
            value = Path(args[at + 1]) if at + 1 < len(args) else None
            if flag == "--manifest":
                manifest = value
            else:
                home = value
    if print_settings and manifest is not None:
        text = json.dumps(settings(manifest, home), indent=2)
    elif manifest is None:
        text = json.dumps(_deny("the hook needs --manifest PATH"))
    else:
        raw = sys.stdin.buffer.read(MAX_EVENT_BYTES + 1)
        text = answer(raw, manifest, home, server="--no-server" not in args)
    sys.stdout.write(text + "\n")
    return 0


def _for_model(tool: str, verdict: Verdict) -> str:
    """What the model may read: an ``ask`` without how to approve it.

    The hook's ``ask`` reason goes to the human Claude Code asks, so it may say
    how to approve; text the model reads never does (an agent that knows the
    command can try to run it).
    """
    if verdict.permission != "ask" or verdict.result is None:
        return verdict.reason
    return (
        f"[enclosure] {tool} needs a human's approval "
        f"({verdict.result.decision.reason}); it was not run. Do not retry it with "
        "other arguments: once a human approves it, the same call goes through."
    )


# --- the Claude Agent SDK ----------------------------------------------------------


def can_use_tool(
    run_or_enc: Run | Enclosure,
    *,
    cwd: str | Path | None = None,
) -> Callable[[str, dict[str, Any], Any], Awaitable[Any]]:
    """A ``can_use_tool`` callback for ``ClaudeAgentOptions``, backed by ``decide``.

    Given an ``Enclosure``, the first call starts one run for the callback. Rules
    see the same ``context`` as in the hook (``tool_context``): ``cwd`` is the
    agent's working directory (``ClaudeAgentOptions.cwd``; default this
    process's), the project directory ``CLAUDE_PROJECT_DIR`` or else ``cwd``, and
    the session is the run. allow → ``PermissionResultAllow``; deny, simulate and
    a pending approval → ``PermissionResultDeny`` with the reason (the callback is
    the human prompt, so there is no one further to ask: a human approves the
    pending call with ``enclosure approvals approve``, which the model is never
    told, and the same call then goes through); kill →
    ``PermissionResultDeny(interrupt=True)``, which stops the agent. Pass the
    callback to ``result_hooks`` too, so that what each call returned is logged.

    Raises:
        UsageError: ``claude-agent-sdk`` is not installed (``E-INTEGRATION-MISSING``).
    """
    return _SdkGuard(run_or_enc, cwd).can_use_tool


def result_hooks(callback: Callable[..., Awaitable[Any]]) -> dict[str, Any]:
    """``ClaudeAgentOptions(hooks=...)`` that log each call's result in its run.

    ``callback`` is what ``can_use_tool`` returned; its run gets a ``result``
    event for every call it allowed (and an ``alert`` for a tool that ran
    without its decision), as the hook's ``PostToolUse`` does.

    Raises:
        UsageError: ``callback`` did not come from ``can_use_tool``
            (``E-USAGE``).
    """
    guard = getattr(callback, "__self__", None)
    if not isinstance(guard, _SdkGuard):
        msg = "result_hooks takes the callback that can_use_tool returned"
        raise UsageError(msg, code="E-USAGE")
    matcher = guard.sdk.HookMatcher(matcher=None, hooks=[guard.post_tool_use])
    return {"PostToolUse": [matcher], "PostToolUseFailure": [matcher]}


class _SdkGuard:
    """One Agent SDK session: its run, its decisions and its results."""

    def __init__(self, run_or_enc: Run | Enclosure, cwd: str | Path | None) -> None:
        self.sdk = require("claude_agent_sdk")
        self.run_or_enc = run_or_enc
        self.cwd = cwd
        self.runs: list[Run] = []

    def current(self) -> Run:
        from enclosure._run import Run  # noqa: PLC0415 -- at runtime only here

        if isinstance(self.run_or_enc, Run):
            return self.run_or_enc
        if not self.runs:
            self.runs.append(self.run_or_enc.start_run(task="claude agent sdk session"))
        return self.runs[0]

    async def can_use_tool(
        self, tool: str, tool_input: dict[str, Any], ctx: Any
    ) -> Any:
        try:
            run = self.current()
            context = tool_context(
                run.enclosure,
                tool_input,
                agent="claude-agent-sdk",
                session_id=run.id,
                cwd=str(self.cwd or Path.cwd()),
                tool_use_id=str(getattr(ctx, "tool_use_id", None) or ""),
            )
            verdict = decide(run, tool, tool_input, context=context)
        except EnclosureError as exc:
            return self.sdk.PermissionResultDeny(message=f"[enclosure] {exc.message}")
        if verdict.permission == "allow":
            return self.sdk.PermissionResultAllow()
        return self.sdk.PermissionResultDeny(
            message=_for_model(tool, verdict), interrupt=verdict.stop
        )

    async def post_tool_use(
        self, event: dict[str, Any], tool_use_id: str | None, ctx: Any
    ) -> dict[str, Any]:
        del tool_use_id, ctx  # the event carries what is needed
        if (
            event.get("hook_event_name") in ("PostToolUse", "PostToolUseFailure")
            and isinstance(event.get("tool_name"), str)
            and isinstance(event.get("tool_input"), dict)
        ):
            with contextlib.suppress(EnclosureError):  # the call has run already
                record(self.current(), event)
        return {}


if __name__ == "__main__":
    sys.exit(main())
