"""Suite-wide pytest configuration.

Tests marked ``slow`` run only with --runslow; tests marked ``sandbox`` skip
themselves (with the reason) where bubblewrap or user namespaces are missing.
"""

from __future__ import annotations

import functools
import os

import pytest


@functools.cache
def sandbox_problem() -> str | None:
    """Why no bubblewrap sandbox can run here, or None when one can."""
    from enclosure.errors import SandboxUnavailable  # noqa: PLC0415
    from enclosure.manifest import ComputeSpec  # noqa: PLC0415
    from enclosure.sandbox import BwrapSandbox, SandboxSpec  # noqa: PLC0415

    try:
        BwrapSandbox(SandboxSpec(ComputeSpec())).cleanup()
    except SandboxUnavailable as exc:
        return exc.message
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow",
        action="store_true",
        default=False,
        help="also run the tests marked slow",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    runslow = config.getoption("--runslow")
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if not runslow and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)
        if item.get_closest_marker("sandbox") is not None and (
            problem := sandbox_problem()
        ):
            if os.environ.get("ENCLOSURE_REQUIRE_SANDBOX") == "1":
                # scripts/test sets this: a CI machine without a sandbox must fail,
                # not pass by skipping every boundary test.
                pytest.fail(f"ENCLOSURE_REQUIRE_SANDBOX=1 but: {problem}")
            item.add_marker(pytest.mark.skip(reason=f"no sandbox here: {problem}"))
