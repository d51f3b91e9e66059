import json
from pathlib import Path

import click
import pytest

from enclosure._enclosure import open_log
from enclosure.cli._common import PIPE_WIDTH, console, echo_json, open_home_log
from enclosure.errors import AuditUnavailable


def context(home: Path) -> click.Context:
    ctx = click.Context(click.Command("enclosure"))
    ctx.obj = {"home": home}
    return ctx


def test_tables_are_wide_when_stdout_is_not_a_terminal():
    assert console().width == PIPE_WIDTH


def test_a_missing_log_is_refused_and_not_created(tmp_path: Path):
    with pytest.raises(AuditUnavailable) as exc:
        open_home_log(context(tmp_path / "typo"))
    assert exc.value.code == "E-AUDIT-NOT-FOUND"
    assert not (tmp_path / "typo").exists()


def test_an_existing_log_is_opened_and_closed_with_the_context(tmp_path: Path):
    open_log(tmp_path).close()
    ctx = context(tmp_path)
    with ctx:
        log = open_home_log(ctx)
        assert log.verify().ok
    with pytest.raises(AuditUnavailable):
        log.verify()


def test_json_output_is_sorted_and_stringifies_odd_values(
    capsys: pytest.CaptureFixture[str],
):
    echo_json({"b": 1, "a": Path("/x")})
    out = capsys.readouterr().out
    assert json.loads(out) == {"a": "/x", "b": 1}
    assert out.index('"a"') < out.index('"b"')
