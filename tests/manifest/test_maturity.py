import pytest

from enclosure.errors import ManifestError
from enclosure.manifest import Gate, LadderSpec, TaintSpec
from enclosure.testing import manifest_from


def test_stage_ladder_and_taint_load():
    m = manifest_from(
        """
        agent: {name: a}
        shadow: true
        tools:
          read_mail: {effect: read, untrusted: true}
          send: {effect: write, stage: 3, sensitive: [to]}
        ladder:
          gates:
            4: {min_approvals: 100, max_rejected: 0.02}
        taint: {action: deny}
        """
    )
    assert m.shadow
    assert m.tools["send"].stage == 3
    assert m.tools["read_mail"].untrusted
    assert isinstance(m.ladder, LadderSpec)
    assert m.ladder.gates[4] == Gate(min_approvals=100, max_rejected=0.02)
    assert m.taint == TaintSpec(action="deny")


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("tools:\n  t: {stage: 6}\n", "E-MANIFEST-VALUE", 3),
        ("ladder:\n  gates:\n    1: {}\n", "E-MANIFEST-VALUE", 4),
        ("taint: {action: allow}\n", "E-MANIFEST-VALUE", 2),
        (
            (
                "tools:\n  t:\n    input_schema: {type: object, properties: {a: {}}}\n"
                "    sensitive: [b]\n"
            ),
            "E-MANIFEST-VALUE",
            5,
        ),
    ],
)
def test_bad_sections_name_their_line(text, code, line):
    with pytest.raises(ManifestError) as info:
        manifest_from("agent: {name: a}\n" + text)
    issue = info.value.issues[0]
    assert issue.code == code
    assert issue.line == line
