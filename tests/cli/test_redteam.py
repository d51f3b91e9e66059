from enclosure.demo._demo import _manifest_path

OPEN = """
agent: {name: naive}
tools:
  send: {effect: write}
"""


def test_redteam_exits_0_when_all_attacks_are_stopped(enclosure):
    result = enclosure("redteam", "--manifest", _manifest_path())
    assert result.status == 0
    assert "0 got through" in result.out


def test_redteam_exits_1_when_an_attack_gets_through(enclosure, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(OPEN, encoding="utf-8")
    result = enclosure("redteam", "-m", manifest)
    assert result.status == 1
    assert "GOT THROUGH" in result.out


def test_a_bad_manifest_is_reported_with_its_place(enclosure, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("agent: {name: a}\ntools:\n  t: {stage: 9}\n", encoding="utf-8")
    result = enclosure("redteam", "-m", manifest)
    assert result.status == 2
    assert result.err.startswith(f"{manifest}:3:")
