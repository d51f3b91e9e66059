"""From a manifest to a ``SandboxSpec``, and from a spec to a working backend.

Relative ``filesystem`` paths are read from the manifest's own folder, so a
manifest means the same thing whichever directory the command runs in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure.errors import UsageError
from enclosure.manifest import manifest_source
from enclosure.sandbox._base import Mount, Sandbox, SandboxSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from enclosure.manifest import Manifest

__all__ = ["build_spec", "manifest_dir", "open_sandbox", "resolve_paths"]

DEFAULT_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",  # noqa: S108 -- the sandbox's private /tmp
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",  # noqa: S108
}
# The sandbox's own view, which no host path may shadow: these exactly, and
# anything under the second group. (Under /tmp is fine: test folders live there.)
_RESERVED = ("/", "/proc", "/dev", "/usr", "/etc", "/tmp", "/run")  # noqa: S108
_RESERVED_TREES = ("/proc/", "/dev/", "/usr/", "/etc/", "/run/")


def manifest_dir(manifest: Manifest) -> Path:
    """The folder relative manifest paths are read from (cwd for in-code ones)."""
    file = manifest_source(manifest).file
    if file.startswith("<"):
        return Path.cwd()
    return Path(file).resolve().parent


def resolve_paths(manifest: Manifest) -> tuple[list[Path], list[Path]]:
    """Absolute ``filesystem.read`` and ``filesystem.write`` paths.

    Raises:
        UsageError: a path is reserved for the sandbox itself, a read path does
            not exist, or a path is both read and written (``E-SANDBOX-PATH``).
    """
    base = manifest_dir(manifest)
    read = [_absolute(base, p) for p in manifest.filesystem.read]
    write = [_absolute(base, p) for p in manifest.filesystem.write]
    for path in (*read, *write):
        if str(path) in _RESERVED or str(path).startswith(_RESERVED_TREES):
            msg = f"filesystem path {path} would hide part of the sandbox itself"
            raise UsageError(msg, code="E-SANDBOX-PATH")
    for path in read:
        if not path.exists():
            msg = f"filesystem.read path {path} does not exist"
            raise UsageError(msg, code="E-SANDBOX-PATH")
    if overlap := set(read) & set(write):
        msg = f"{min(overlap)} is listed under both read and write"
        raise UsageError(msg, code="E-SANDBOX-PATH")
    return read, write


def _absolute(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))  # noqa: PTH111 -- ~ in manifests
    return Path(os.path.normpath(base / path))


def build_spec(
    manifest: Manifest,
    *,
    writable: Sequence[Mount] = (),
    extra: Sequence[Mount] = (),
    environ: Mapping[str, str] | None = None,
) -> SandboxSpec:
    """The spec for ``manifest``: read-only inputs, quarantined writes, env allowlist.

    Args:
        manifest: the validated manifest.
        writable: quarantine mounts for ``filesystem.write`` (from the data layer).
        extra: more mounts (the agent's socket folder).
        environ: the host environment to take ``compute.env`` names from.

    Raises:
        UsageError: a ``filesystem`` path is unusable (``E-SANDBOX-PATH``).
    """
    environ = os.environ if environ is None else environ
    read, _ = resolve_paths(manifest)
    compute = manifest.compute
    env = dict(DEFAULT_ENV)
    for name in compute.env:
        if name in environ:
            env[name] = environ[name]
    env.update(compute.set_env)
    mounts = [Mount(p, str(p)) for p in read]
    mounts += [*writable, *extra]
    return SandboxSpec(
        compute=compute,
        mounts=tuple(mounts),
        env=env,
        watch_disk=tuple(m.host for m in writable),
    )


def open_sandbox(
    manifest: Manifest, spec: SandboxSpec, *, backend: str | None = None
) -> Sandbox:
    """The backend the manifest asks for (or ``backend``), ready to run commands.

    ``backend="none"`` is for what the manifest itself marks unsandboxed in so
    many words (an MCP upstream with ``sandbox: none``).

    Raises:
        SandboxUnavailable: the backend cannot work here; nothing will run.
    """
    backend = backend or manifest.compute.backend
    if backend == "bubblewrap":
        from enclosure.sandbox._bwrap import BwrapSandbox  # noqa: PLC0415

        return BwrapSandbox(spec)
    # backend == "none": the manifest asked for it in so many words.
    from enclosure.sandbox._direct import DirectRunner  # noqa: PLC0415

    return DirectRunner(spec)
