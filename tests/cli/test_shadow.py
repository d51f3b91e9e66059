from enclosure.testing import make_enclosure

MANIFEST = """
agent: {name: mailer}
tools:
  send: {effect: write}
"""


def _shadow_runs(home):
    enc = make_enclosure(MANIFEST, home)
    for case, to in (("c1", "a@x"), ("c2", "b@x")):
        with enc.start_run(case, shadow=True) as run:
            run.call("send", {"to": to})
    enc.close()


def test_import_then_report_in_the_terminal_and_html(enclosure, home, tmp_path):
    _shadow_runs(home)
    outcomes = tmp_path / "o.csv"
    outcomes.write_text(
        "case_id,action,to\nc1,send,a@x\nc2,send,c@x\n", encoding="utf-8"
    )
    assert enclosure("--home", home, "shadow", "import", outcomes).status == 0
    html = tmp_path / "r.html"
    result = enclosure("--home", home, "shadow", "report", "--html", html)
    assert result.status == 0
    assert "cases compared: 2" in result.out
    assert "c2 send.to: proposed 'b@x', actual 'c@x'" in result.out
    assert "<svg" in html.read_text(encoding="utf-8")


def test_a_malformed_outcomes_file_is_one_coded_line(enclosure, home, tmp_path):
    outcomes = tmp_path / "o.jsonl"
    outcomes.write_text('{"case_id": "c1", "action": "send"}\nnope\n', encoding="utf-8")
    result = enclosure("--home", home, "shadow", "import", outcomes)
    assert result.status == 2
    assert result.err_lines() == [
        f"enclosure: E-OUTCOMES-INVALID: {outcomes}:2:1: not JSON (Expecting value)"
    ]
    missing = enclosure("--home", home, "shadow", "import", tmp_path / "none.csv")
    assert "E-OUTCOMES-INVALID" in missing.err


def test_importing_the_same_outcomes_again_adds_nothing(enclosure, home, tmp_path):
    _shadow_runs(home)
    outcomes = tmp_path / "o.csv"
    outcomes.write_text(
        "case_id,action,to\nc1,send,a@x\nc1,send,a@x\nc2,send,b@x\n", encoding="utf-8"
    )
    first = enclosure("--home", home, "shadow", "import", outcomes)
    assert first.out.strip() == "imported 3 outcomes for 2 cases"  # both c1 rows kept
    again = enclosure("--home", home, "shadow", "import", outcomes)
    assert again.status == 0
    assert again.out.strip() == (
        "imported 0 outcomes for 2 cases (3 already in the log, skipped)"
    )
    more = tmp_path / "more.csv"
    more.write_text("case_id,action,to\nc2,send,b@x\nc2,send,d@x\n", encoding="utf-8")
    extra = enclosure("--home", home, "shadow", "import", more)
    assert extra.out.strip() == (
        "imported 1 outcomes for 1 cases (1 already in the log, skipped)"
    )
