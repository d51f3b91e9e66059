from enclosure.approvals import Approval, binding_sha256


def test_binding_depends_on_run_tool_and_canonical_args():
    base = binding_sha256("run_1", "refund", {"a": 1, "b": [1, 2]})
    assert base == binding_sha256("run_1", "refund", {"b": [1, 2], "a": 1})
    assert base != binding_sha256("run_2", "refund", {"a": 1, "b": [1, 2]})
    assert base != binding_sha256("run_1", "pay", {"a": 1, "b": [1, 2]})
    assert base != binding_sha256("run_1", "refund", {"a": 1.5, "b": [1, 2]})
    assert base != binding_sha256("run_1", "refund", {"a": 1, "b": [2, 1]})


def test_approval_is_frozen():
    a = Approval(
        approval_id="apr_1",
        run_id="run_1",
        tool="refund",
        args={},
        binding_sha256="0" * 64,
        status="pending",
        rule="r",
        reason="why",
        requested_at=1.0,
        expires_at=2.0,
    )
    try:
        a.status = "approved"  # type: ignore[misc]
    except ValueError:
        pass
    else:  # pragma: no cover -- the assertion below explains the failure
        raise AssertionError("Approval must be frozen")
