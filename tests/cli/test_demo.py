"""``enclosure demo``: the runaway-loop demo, end to end through ``main``."""

from __future__ import annotations

import json
import logging


def test_demo_passes_and_leaves_a_verifiable_log_with_a_killed_run(enclosure, home):
    result = enclosure("--home", home, "demo")
    assert result.status == 0, result.out
    assert "killed" in result.out
    assert "ALERT" in result.out
    assert "demo passed" in result.out

    verified = enclosure("--home", home, "audit", "verify")
    assert verified.status == 0

    runs = json.loads(enclosure("--home", home, "runs", "list", "--json").out)
    assert len(runs) == 2
    assert sorted(r["status"] for r in runs) == ["completed", "killed"]
    [killed] = [r for r in runs if r["status"] == "killed"]
    assert killed["agent"] == "billing-notifier"


def test_demo_leaves_the_enclosure_logger_level_as_it_found_it(enclosure, home):
    logger = logging.getLogger("enclosure")
    before = logger.level
    assert enclosure("--home", home, "demo").status == 0
    assert logger.level == before


def test_demo_that_cannot_open_its_log_fails_in_one_line(enclosure, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("", encoding="utf-8")
    result = enclosure("--home", not_a_dir, "demo")
    assert result.status == 2
    [line] = result.err_lines()
    assert line.startswith("enclosure: E-AUDIT-UNAVAILABLE: ")
