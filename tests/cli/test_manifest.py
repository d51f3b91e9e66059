from enclosure.testing import make_enclosure

MANIFEST = """
agent: {name: mailer}
tools:
  send: {effect: write}
  wipe: {effect: write}
"""


def test_suggest_prints_a_diff_with_evidence(enclosure, home, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    enc = make_enclosure(MANIFEST, home)
    with enc.start_run("c1") as run:
        run.call("send", {"to": "a"})
    enc.close()
    result = enclosure(
        "--home", home, "manifest", "suggest", "-m", manifest, "--runs", "all"
    )
    assert result.status == 0
    assert result.out.startswith(
        f"--- {manifest} (current)\n+++ suggested from 1 good runs"
    )
    assert "- tools.wipe: remove    # never called in 1 runs" in result.out
    assert "+ tools.send.rate: 2/minute" in result.out


def test_suggest_without_good_runs_is_a_coded_error(enclosure, empty_home, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    result = enclosure("--home", empty_home, "manifest", "suggest", "-m", manifest)
    assert result.status == 2
    assert "E-SUGGEST-NO-RUNS" in result.err
