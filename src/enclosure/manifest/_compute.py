"""The ``compute`` and ``filesystem`` sections: what a sandbox may use and see.

Sizes read as ``512MiB``, ``64M``, ``1G`` or a number of bytes; durations as in the
rest of the manifest. Every cap has a default, so a manifest that says nothing still
runs its sandboxes inside limits. This module only describes; the sandbox package
turns it into bubblewrap arguments, cgroup settings and rlimits.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

__all__ = ["ComputeSpec", "FilesystemSpec", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$")
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_MAX_SIZE = 1 << 50
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HIDDEN_ENV = frozenset({"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH"})


def parse_size(value: object) -> int:
    """Turn ``4096``, ``"64KiB"``, ``"512M"`` or ``"1GiB"`` into bytes (powers of 2).

    >>> parse_size("1MiB")
    1048576
    """
    if isinstance(value, bool):
        raise PydanticCustomError("E-MANIFEST-VALUE", "a size cannot be a boolean")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value.lower())):
        size = int(float(m.group(1)) * (1024 ** _POWERS[m.group(2)]))
    else:
        raise PydanticCustomError(
            "E-MANIFEST-VALUE", "expected a size such as 4096, 64KiB, 512MiB or 1GiB"
        )
    if not 0 < size <= _MAX_SIZE:
        raise PydanticCustomError(
            "E-MANIFEST-VALUE", "a size must be more than 0 and at most 1 PiB"
        )
    return size


def _seconds(value: object) -> float:
    from enclosure.manifest._models import parse_duration  # noqa: PLC0415 -- cycle

    return parse_duration(value)


Size = Annotated[int, BeforeValidator(parse_size, json_schema_input_type=int | str)]
Seconds = Annotated[
    float, BeforeValidator(_seconds, json_schema_input_type=float | str)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ComputeSpec(_Strict):
    """Caps for every process tree the enclosure starts, and how it is isolated."""

    backend: Literal["bubblewrap", "none"] = "bubblewrap"
    """``none`` runs commands unsandboxed; allowed only when written out, and every
    such run logs a warning event."""
    cpu: Seconds = 30.0
    """CPU seconds for the whole process tree."""
    memory: Size = 512 * 1024**2
    processes: Annotated[int, Field(ge=1, le=65536)] = 64
    open_files: Annotated[int, Field(ge=16, le=1 << 20)] = 256
    file_size: Size = 64 * 1024**2
    """Largest file a process may write."""
    wall_time: Seconds = 60.0
    """After this, the whole process tree is killed."""
    output: Size = 1024**2
    """Bytes kept from stdout and from stderr; more kills the tree."""
    tmp_size: Size = 64 * 1024**2
    """Size of the private ``/tmp``."""
    disk: Size = 256 * 1024**2
    """Total bytes the run may keep in its quarantined ``filesystem.write`` paths."""
    env: list[str] = Field(default_factory=list)
    """Host environment variables passed through by name; all others are cleared."""
    set_env: dict[str, str] = Field(default_factory=dict)
    """Variables set to fixed values inside the sandbox."""

    @field_validator("env")
    @classmethod
    def _check_env(cls, names: list[str]) -> list[str]:
        for name in names:
            _check_env_name(name)
        return names

    @field_validator("set_env")
    @classmethod
    def _check_set_env(cls, values: dict[str, str]) -> dict[str, str]:
        for name in values:
            _check_env_name(name)
        return values


def _check_env_name(name: str) -> None:
    if not _ENV_NAME.match(name):
        raise PydanticCustomError(
            "E-MANIFEST-VALUE",
            "'{name}' is not an environment variable name",
            {"name": name},
        )
    if name in _HIDDEN_ENV:
        raise PydanticCustomError(
            "E-MANIFEST-VALUE",
            "'{name}' changes what code the sandbox loads and cannot be passed in",
            {"name": name},
        )


def _path_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


PathList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4096)]],
    BeforeValidator(_path_list, json_schema_input_type=str | list[str]),
]


class FilesystemSpec(_Strict):
    """Host paths the sandbox sees. Relative paths are from the manifest's folder."""

    read: PathList = Field(default_factory=list)
    """Bound read-only at the same path inside the sandbox."""
    write: PathList = Field(default_factory=list)
    """Seen at the same path, but backed by a per-run quarantine copy; the host path
    changes only when an artifact is promoted."""

    @field_validator("read", "write")
    @classmethod
    def _check_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if "\0" in path or any(part == ".." for part in path.split("/")):
                raise PydanticCustomError(
                    "E-MANIFEST-VALUE",
                    "path '{path}' must not contain '..' or NUL",
                    {"path": path},
                )
        return paths
