from enclosure.testing import make_enclosure

MANIFEST = """
agent: {name: mailer}
tools:
  send: {effect: write, stage: 2}
ladder:
  gates:
    3: {min_shadow_cases: 1}
"""


def test_status_and_promote_refuse_then_succeed(enclosure, home, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    enc = make_enclosure(MANIFEST, home)
    with enc.start_run("c1") as run:
        run.call("send", {"to": "a"})
    enc.close()
    status = enclosure("--home", home, "ladder", "status", "-m", manifest)
    assert status.status == 0
    assert "2 shadow" in status.out
    refused = enclosure("--home", home, "ladder", "promote", "send", "-m", manifest)
    assert refused.status == 2
    assert "E-LADDER-EVIDENCE" in refused.err
    assert "1 shadow cases (has 0)" in refused.err
    outcomes = tmp_path / "o.jsonl"
    outcomes.write_text(
        '{"case_id": "c1", "action": "send", "args": {"to": "a"}}\n', encoding="utf-8"
    )
    assert enclosure("--home", home, "shadow", "import", outcomes).status == 0
    done = enclosure(
        "--home", home, "ladder", "promote", "send", "-m", manifest, "--by", "lead"
    )
    assert done.status == 0
    assert "stage 2 -> 3" in done.out


def test_status_says_how_to_put_a_tool_on_the_ladder(enclosure, home, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    text = "agent: {name: a}\ntools:\n  send: {}\n"
    manifest.write_text(text, encoding="utf-8")
    make_enclosure(text, home).close()
    status = enclosure("--home", home, "ladder", "status", "-m", manifest)
    assert status.status == 0
    assert status.out.startswith(f"no tool in {manifest} is on the ladder")
