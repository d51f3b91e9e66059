"""Where secrets come from: ``env:``, ``file:``, ``command:``, ``plugin:``, ``token:``.

``SecretSource`` is the plugin interface: a secret manager implements ``fetch`` and
is named in the manifest as ``plugin:module:object``. Every error raised here says
which credential and which source failed and never holds the secret: no value, no
output of a command, and no chained exception that could carry either (errors that
may hold data are raised outside their ``except`` block, so not even
``__context__`` points at them). A plugin that wants to say why it failed raises
``CredentialError`` itself, with a message that holds no secret; anything else it
raises is reported by type only.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from enclosure.errors import CredentialError

if TYPE_CHECKING:
    from enclosure.manifest import CredentialSpec

__all__ = [
    "COMMAND_TIMEOUT_S",
    "CommandSource",
    "EnvSource",
    "FileSource",
    "SecretSource",
    "TokenSource",
    "load_source",
]

COMMAND_TIMEOUT_S = 10.0


@runtime_checkable
class SecretSource(Protocol):
    """Fetches one secret's current value; a secret manager plugin implements it."""

    def fetch(self, name: str, spec: CredentialSpec) -> str:
        """Return the secret for the credential ``name``.

        Called just in time, from a worker thread, and again once ``spec.ttl``
        has passed. Raise ``CredentialError`` with a message that holds no secret.
        """
        ...


@dataclass(frozen=True, slots=True)
class EnvSource:
    """``env:NAME``: the enclosure's own environment variable (never the sandbox's)."""

    variable: str

    def fetch(self, name: str, spec: CredentialSpec) -> str:  # noqa: ARG002 -- protocol
        """The variable's value; missing or empty is an error naming the variable."""
        value = os.environ.get(self.variable)
        if not value:
            state = "is empty" if value is not None else "is not set"
            raise CredentialError(
                f"credential {name}: environment variable {self.variable} {state}"
            )
        return value


@dataclass(frozen=True, slots=True)
class FileSource:
    """``file:PATH``: a file's text, less its trailing newline."""

    path: Path

    def fetch(self, name: str, spec: CredentialSpec) -> str:  # noqa: ARG002 -- protocol
        """The file's UTF-8 text; unreadable, empty or not text is an error."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise CredentialError(
                f"credential {name}: cannot read {self.path}: {reason}"
            ) from exc
        text = _text(data)
        if text is None:
            raise CredentialError(f"credential {name}: {self.path} is not UTF-8 text")
        value = text.rstrip("\r\n")
        if not value:
            raise CredentialError(f"credential {name}: {self.path} is empty")
        return value


@dataclass(frozen=True, slots=True)
class CommandSource:
    """``command:ARGV``: a program's standard output, trimmed; no shell.

    The program inherits the enclosure's environment and gets no input; its
    standard error is discarded, because a failing secret tool may print the
    secret there. On timeout its whole process group is killed.
    """

    argv: tuple[str, ...]
    timeout_s: float = COMMAND_TIMEOUT_S

    def fetch(self, name: str, spec: CredentialSpec) -> str:  # noqa: ARG002 -- protocol
        """Run the program; a failure reports its exit status, never its output."""
        program = self.argv[0]
        try:
            process = subprocess.Popen(  # noqa: S603 -- argv from the manifest, no shell
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise CredentialError(
                f"credential {name}: command {program} cannot start: {reason}"
            ) from exc
        output: bytes | None = None
        with process:
            try:
                output, _ = process.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:  # holds partial output: not chained
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        status = process.wait()
        if output is None:
            raise CredentialError(
                f"credential {name}: command {program} timed out after "
                f"{self.timeout_s:g} s (killed)"
            )
        if status != 0:
            how = (
                f"was killed by signal {-status}" if status < 0 else f"exited {status}"
            )
            raise CredentialError(
                f"credential {name}: command {program} {how}; run it by hand to see why"
            )
        text = _text(output)
        if text is None:
            raise CredentialError(
                f"credential {name}: command {program} printed something not UTF-8"
            )
        value = text.strip()
        if not value:
            raise CredentialError(
                f"credential {name}: command {program} printed nothing"
            )
        return value


@dataclass(frozen=True, slots=True)
class TokenSource:
    """``token:AUDIENCE``: a run token the broker mints per request (``RunTokens``)."""

    audience: str

    def fetch(self, name: str, spec: CredentialSpec) -> str:  # noqa: ARG002 -- protocol
        """Tokens depend on who asks and where to: only the broker can mint them."""
        raise CredentialError(
            f"credential {name}: a token source is minted per request by the broker"
        )


def _text(data: bytes) -> str | None:
    """UTF-8 text, or None; the decode error (which holds the bytes) is dropped."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _command(name: str, target: str) -> CommandSource:
    try:
        argv = tuple(shlex.split(target))
    except ValueError as exc:
        raise CredentialError(
            f"credential {name}: command cannot be split: {exc}"
        ) from exc
    if not argv or not argv[0]:
        raise CredentialError(f"credential {name}: command is empty")
    return CommandSource(argv)


def _import(where: str, module_name: str, attribute: str) -> object:
    failure: str | None = None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CredentialError(f"{where}: cannot import {module_name}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 -- a plugin's import may fail any way
        failure = type(exc).__name__
    if failure is not None:
        raise CredentialError(f"{where}: importing {module_name} raised {failure}")
    obj: object = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise CredentialError(f"{where}: {module_name} has no {attribute}")
        obj = getattr(obj, part)
    return obj


def _plugin(name: str, target: str) -> SecretSource:
    """Import ``module:object``; a class or factory is called with no arguments."""
    module_name, _, attribute = target.partition(":")
    where = f"credential {name}: plugin {target}"
    if not module_name or not attribute:
        raise CredentialError(f"{where}: write plugin:module:object")
    obj = _import(where, module_name, attribute)
    if isinstance(obj, type) or not callable(getattr(obj, "fetch", None)):
        if not callable(obj):
            raise CredentialError(f"{where}: not a SecretSource (no fetch method)")
        failure: str | None = None
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 -- the plugin's own constructor
            failure = type(exc).__name__
        if failure is not None:
            raise CredentialError(f"{where}: creating it raised {failure}")
    if not isinstance(obj, SecretSource):
        raise CredentialError(f"{where}: not a SecretSource (no fetch method)")
    return obj


def load_source(spec: CredentialSpec, *, name: str = "?") -> SecretSource:
    """The source a credential's ``source`` names; plugins are imported now.

    Args:
        spec: the credential.
        name: its name in the manifest, for error messages.

    Raises:
        CredentialError: the command cannot be split, or the plugin cannot be
            imported or created.
    """
    kind, target = spec.kind, spec.target
    if kind == "env":
        return EnvSource(target)
    if kind == "file":
        return FileSource(Path(target).expanduser())
    if kind == "command":
        return _command(name, target)
    if kind == "token":
        return TokenSource(target)
    return _plugin(name, target)
