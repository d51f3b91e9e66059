from enclosure.shadow import Call, Request, suggest
from enclosure.testing import manifest_from

MANIFEST = """
agent: {name: a}
tools:
  send: {effect: write, rate: 100/minute}
  unused: {effect: write}
"""


def test_suggest_narrows_tools_args_rates_and_hosts():
    calls = [
        Call("r1", "send", {"to": "a@x", "n": 2}, 0.0),
        Call("r1", "send", {"to": "b@x", "n": 4}, 10.0),
        Call("r2", "send", {"to": "a@x", "n": 1}, 0.0),
    ]
    requests = [
        Request("r1", "send", "POST", "api.x", "/v1/mail/send"),
        Request("r2", "send", "POST", "api.x", "/v1/mail/queue"),
    ]
    lines = {
        (s.op, s.path): s for s in suggest(manifest_from(MANIFEST), calls, requests, 2)
    }
    assert lines[("-", "tools.unused")].evidence == "never called in 2 runs"
    assert lines[("+", "tools.send.args.to")].value == "one of ['a@x', 'b@x']"
    assert lines[("+", "tools.send.args.n")].value == "one of [1, 2, 4]"
    assert lines[("~", "tools.send.rate")].value == "3/minute"
    assert "paths: [/v1/mail/**]" in lines[("+", "network.rules")].value
    assert lines[("+", "kill_switch.max_calls")].value == "3"
    assert all(s.format().count("#") == 1 for s in lines.values())
