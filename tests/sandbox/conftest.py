"""Fixtures for the sandbox tests: small caps so every limit fires within a second."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from enclosure.manifest import ComputeSpec
from enclosure.sandbox import BwrapSandbox, Mount, SandboxSpec

ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}  # noqa: S108 -- inside

MakeSandbox = Callable[..., BwrapSandbox]


def compute(**caps: Any) -> ComputeSpec:
    """Caps small enough for tests; keywords override."""
    base: dict[str, Any] = {
        "wall_time": 5,
        "cpu": 2,
        "memory": "256MiB",
        "processes": 32,
        "output": "64KiB",
        "tmp_size": "4MiB",
        "disk": "4MiB",
    }
    return ComputeSpec.model_validate(base | caps)


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    made: list[BwrapSandbox] = []

    def make(mounts: tuple[Mount, ...] = (), **caps: Any) -> BwrapSandbox:
        writable = tuple(m.host for m in mounts if m.writable)
        spec = SandboxSpec(compute(**caps), mounts=mounts, env=ENV, watch_disk=writable)
        sandbox = BwrapSandbox(spec)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.cleanup()
