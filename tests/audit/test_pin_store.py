from enclosure.audit import DecisionLog
from enclosure.audit._pin_store import PinTable


def test_a_pin_is_per_agent_upstream_and_tool_and_can_be_replaced():
    log = DecisionLog("sqlite://")
    assert isinstance(log._pins, PinTable)
    assert log.get_pin("a", "up", "echo") is None
    log.set_pin("a", "up", "echo", "1" * 64, now=1.0)
    log.set_pin("b", "up", "echo", "2" * 64, now=1.0)
    assert log.get_pin("a", "up", "echo") == "1" * 64
    log.set_pin("a", "up", "echo", "3" * 64, now=2.0)
    assert log.get_pin("a", "up", "echo") == "3" * 64
    assert log.get_pin("b", "up", "echo") == "2" * 64
    assert log.get_pin("a", "other", "echo") is None
    log.close()
