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


def test_suggest_learns_only_from_the_runs_named(enclosure, home, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    enc = make_enclosure(MANIFEST, home)
    with enc.start_run("c1") as first:
        first.call("send", {"to": "a"})
    with enc.start_run("c2") as second:
        second.call("wipe", {"what": "all"})
    killed = enc.start_run("c3")
    killed.kill("operator")
    enc.close()
    chosen = enclosure(
        "--home", home, "manifest", "suggest", "-m", manifest, "--runs", first.id
    )
    assert chosen.status == 0, chosen.err
    assert "suggested from 1 good runs" in chosen.out
    assert "- tools.wipe: remove" in chosen.out  # c2 was not named
    both = enclosure(
        "--home",
        home,
        "manifest",
        "suggest",
        "-m",
        manifest,
        "--runs",
        f"{first.id}, {second.id}",
    )
    assert both.status == 0, both.err
    assert "suggested from 2 good runs" in both.out
    assert "- tools.wipe: remove" not in both.out
    for runs, code in ((killed.id, "E-SUGGEST-BAD-RUN"), ("run_nope", "E-RUN-UNKNOWN")):
        bad = enclosure(
            "--home", home, "manifest", "suggest", "-m", manifest, "--runs", runs
        )
        assert bad.status == 2
        assert code in bad.err
        assert bad.err.count("\n") == 1
