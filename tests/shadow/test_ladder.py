from enclosure.manifest import DemoteSpec, Gate
from enclosure.shadow import Evidence, demotion, missing


def test_missing_lists_every_shortfall():
    gate = Gate(min_shadow_cases=200, min_agreement=0.95, min_approvals=100)
    ev = Evidence(shadow_cases=150, agreed=140, approvals=0, rejected=0, incidents=1)
    lacks = missing(gate, ev)
    assert len(lacks) == 4
    assert "200 shadow cases (has 150)" in lacks[0]


def test_a_passing_gate_lacks_nothing_and_no_gate_refuses():
    ev = Evidence(200, 199, 100, 1, 0)
    assert (
        missing(Gate(min_shadow_cases=200, min_agreement=0.95, max_rejected=0.02), ev)
        == []
    )
    assert missing(None, ev)


def test_demotion_after_kill_alert_or_too_many_rejections():
    spec = DemoteSpec(max_rejected=0.2, min_decided=5)
    assert demotion(spec, kind="kill")
    assert demotion(spec, kind="alert")
    assert demotion(spec, kind="approval", decided=4, rejected=4) is None
    assert demotion(spec, kind="approval", decided=5, rejected=2)
    assert demotion(DemoteSpec(on_kill=False), kind="kill") is None
