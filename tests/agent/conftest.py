"""Fixtures for the agent front door: an enclosure, a run, a short socket folder.

Socket paths must stay under 108 bytes, so sockets live in a fresh folder directly
under the system temp dir rather than in pytest's deep ``tmp_path``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from enclosure.testing import make_enclosure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from enclosure import Enclosure, Run

MANIFEST = """
agent: {name: helper, description: helps in tests}
tools:
  echo:
    description: says it back, louder
    effect: read
  lookup:
    effect: read
    input_schema:
      type: object
      properties: {key: {type: string}}
      required: [key]
      additionalProperties: false
  draft:
    mode: simulate
  refund:
    rules:
      - when: "args.amount > 100"
        then: approve
        reason: large refunds need a human
  off:
    mode: deny
  spare:
    description: a tool each test may give its own handler
    effect: read
kill_switch:
  max_calls: 50
  max_denials: 10
"""


@pytest.fixture
def enc(tmp_path: Path) -> Iterator[Enclosure]:
    enc = make_enclosure(MANIFEST, tmp_path / "home")

    @enc.tool()
    def echo(text: str) -> str:
        return text.upper()

    @enc.tool()
    def lookup(key: str) -> dict[str, str]:
        return {"key": key, "value": "x" * 10}

    @enc.tool()
    def refund(amount: float) -> dict[str, float]:
        return {"refunded": amount}

    with enc:
        yield enc


@pytest.fixture
def run(enc: Enclosure) -> Run:
    return enc.start_run(task="test")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="enc-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
