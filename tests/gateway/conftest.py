"""Fixtures for the gateway: real upstream servers in the sandbox, a real client.

Upstreams are the published servers (``mcp-server-time``, ``-git``, ``-fetch``)
and ``programs/upstream.py``, each started by the gateway inside bubblewrap.
Python upstreams need the virtualenv and its base interpreter, which the
manifest's ``filesystem.read`` mounts read-only, as a user's manifest would.
"""

from __future__ import annotations

import sys
import textwrap
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.shared.message import SessionMessage

from enclosure import Enclosure

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from enclosure.gateway import Gateway

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "programs" / "upstream.py"
BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python")
READ = [sys.prefix, sys.base_prefix, str(HERE)]


def manifest_text(body: str, *, read: list[str] | None = None) -> str:
    """A manifest for the tests: ``body`` plus mounts for the Python upstreams."""
    paths = ", ".join(f'"{p}"' for p in [*READ, *(read or [])])
    head = f"agent: {{name: gw}}\nfilesystem:\n  read: [{paths}]\n"
    return head + textwrap.dedent(body)


def fake(description_file: Path | None = None, **extra: Any) -> str:
    """An ``upstreams`` entry for the fake server, as a YAML flow mapping."""
    argv = [PYTHON, str(UPSTREAM)]
    if description_file is not None:
        argv.append(str(description_file))
    fields = [f"command: [{', '.join(repr(a) for a in argv)}]"]
    fields += [f"{k}: {v}" for k, v in extra.items()]
    return "{" + ", ".join(fields) + "}"


def time_server() -> str:
    return f"{{command: ['{BIN / 'mcp-server-time'}', --local-timezone, UTC]}}"


@pytest.fixture
def make(tmp_path: Path):
    """Build an ``Enclosure`` from manifest text, logging under ``tmp_path``."""
    made: list[Enclosure] = []

    def build(body: str, *, read: list[str] | None = None) -> Enclosure:
        path = tmp_path / "enclosure.yaml"
        path.write_text(manifest_text(body, read=read), encoding="utf-8")
        enc = Enclosure.load(path, home=tmp_path / "home")
        made.append(enc)
        return enc

    yield build
    for enc in made:
        enc.close()


@asynccontextmanager
async def connect(gateway: Gateway) -> AsyncIterator[ClientSession]:
    """Run ``gateway`` and talk to it with the SDK's real ``ClientSession``."""
    c2s_send, c2s_recv = anyio.create_memory_object_stream[SessionMessage | Exception](
        0
    )
    s2c_send, s2c_recv = anyio.create_memory_object_stream[SessionMessage | Exception](
        0
    )
    try:
        async with gateway.running(), anyio.create_task_group() as tg:
            tg.start_soon(gateway.serve, c2s_recv, s2c_send)
            async with ClientSession(s2c_recv, c2s_send) as session:
                await session.initialize()
                yield session
            tg.cancel_scope.cancel()
    finally:
        for stream in (c2s_send, c2s_recv, s2c_send, s2c_recv):
            stream.close()


def run_async(fn: Any, *args: Any, limit: float = 30) -> Any:
    """Run ``fn`` under anyio, every wait bounded."""

    async def bounded() -> Any:
        with anyio.fail_after(limit):
            return await fn(*args)

    return anyio.run(bounded)


def text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.fixture
def h() -> SimpleNamespace:
    """The helpers above, for test modules (conftest cannot be imported)."""
    return SimpleNamespace(
        connect=connect,
        fake=fake,
        run=run_async,
        text=text,
        time_server=time_server,
        python=PYTHON,
        upstream=UPSTREAM,
        bin=BIN,
    )
