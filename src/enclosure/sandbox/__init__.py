"""Sandboxes: run commands isolated, with caps, and prove a backend behaves.

Room: an edge. It may start processes and touch cgroups; it must not know the
policy, the router or the decision log (the run calls in; nothing here calls out).
"""

from enclosure.sandbox._base import (
    ExecResult,
    LimitName,
    Mount,
    Sandbox,
    SandboxSpec,
    StartHook,
)
from enclosure.sandbox._bwrap import BwrapSandbox, find_bwrap
from enclosure.sandbox._seccomp import DENIED_SYSCALLS
from enclosure.sandbox._spawn import Spawned
from enclosure.sandbox._spec import (
    build_spec,
    manifest_dir,
    open_sandbox,
    resolve_paths,
)

__all__ = [
    "DENIED_SYSCALLS",
    "BwrapSandbox",
    "ExecResult",
    "LimitName",
    "Mount",
    "Sandbox",
    "SandboxSpec",
    "Spawned",
    "StartHook",
    "build_spec",
    "find_bwrap",
    "manifest_dir",
    "open_sandbox",
    "resolve_paths",
]
