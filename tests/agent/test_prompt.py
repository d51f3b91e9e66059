import pytest

from enclosure.agent import system_prompt
from enclosure.agent._prompt import format_duration, format_size
from enclosure.testing import manifest_from

FULL = """
agent: {name: mailer, description: sends the monthly invoices}
tools:
  read_ticket:
    description: one ticket by id
    effect: read
    input_schema:
      type: object
      properties: {ticket_id: {type: string}}
  reply:
    mode: simulate
    rate: 10/minute
  refund:
    cost: 0.25
    rules:
      - when: "args.amount > 100"
        then: approve
        reason: large refunds need a human
      - then: deny
        reason: never on Sundays
    rate: {limit: 3/hour, key: args.customer, on_exceed: kill}
  wipe:
    mode: approve
  delete_account:
    mode: deny
  count:
    command: [wc, -l]
rules:
  - when: "args.to.endsWith('@evil.example')"
    then: kill
    tools: [reply]
    reason: exfiltration
kill_switch:
  max_calls: 40
  max_cost: 5
  max_denials: 3
  max_consecutive_errors: 2
  repeated_calls: {max: 4, window: 2m}
  conditions:
    - when: "run.cost > 4"
      reason: almost out of money
approvals: {ttl: 1h}
compute:
  wall_time: 90s
  memory: 128MiB
  env: [LANGUAGE]
filesystem:
  read: [/usr/share/doc]
  write: [/srv/outbox]
"""


@pytest.fixture
def text() -> str:
    return system_prompt(manifest_from(FULL))


@pytest.mark.parametrize(
    "fact",
    [
        "You are mailer",
        "sends the monthly invoices.",
        "`read_ticket` (read; runs for real; runs on the host): one ticket by id",
        '"ticket_id":{"type":"string"}',
        "`reply` (write; SIMULATED",
        "rate limit: 10/minute (over it: refused)",
        "rate limit: 3/hour per args.customer (over it: THE RUN IS KILLED)",
        "cost: 0.25 per call",
        (
            "when `args.amount > 100`: the call waits for a human's approval "
            "(large refunds need a human)"
        ),
        "always: the call is refused (never on Sundays)",
        (
            "when `args.to.endsWith('@evil.example')`: the call KILLS THE RUN "
            "(exfiltration)"
        ),
        "`wipe` (write; NEEDS APPROVAL",
        "`count` (write; runs for real; runs in the sandbox)",
        "Off-limits (switched off; every call is refused): `delete_account`.",
        "more than 40 tool calls",
        "a total cost over 5",
        "3 refused calls",
        "2 failed calls in a row",
        "the same call (tool and arguments) 4 times within 2 min",
        "`run.cost > 4` (almost out of money)",
        "expires after 1 h",
        "NO network at all",
        "wall time 90 s",
        "memory 128 MiB",
        "`LANGUAGE`",
        "readable (read-only): `/usr/share/doc`",
        "writable: `/srv/outbox`. Writes are QUARANTINED",
        "/run/enclosure/agent.sock",
        "from enclosure.client import Client",
    ],
)
def test_the_prompt_states_each_fact_of_the_manifest(text, fact):
    assert fact in text


def test_the_exfiltration_rule_only_shows_on_the_tools_it_covers(text):
    refund_part = text.split("`refund`")[1].split("`wipe`")[0]
    assert "exfiltration" not in refund_part


def test_the_same_manifest_gives_the_same_prompt():
    assert system_prompt(manifest_from(FULL)) == system_prompt(manifest_from(FULL))


def test_unsandboxed_runs_are_not_promised_isolation():
    text = system_prompt(
        manifest_from("agent: {name: a}\ntools: {t: {}}\ncompute: {backend: none}")
    )
    assert "WITHOUT isolation" in text
    assert "NO network" not in text


def test_without_tools_every_call_is_refused():
    text = system_prompt(manifest_from("agent: {name: a}"))
    assert "No tool is available" in text
    assert "No run-wide call limits" in text
    assert "writable: only /tmp" in text


def test_handler_schemas_fill_in_for_undeclared_ones():
    manifest = manifest_from("agent: {name: a}\ntools: {t: {}, u: {}}")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    text = system_prompt(manifest, {"t": schema}, socket="/run/x.sock")
    assert '"n":{"type":"integer"}' in text
    assert '`{"type":"object"}`' in text
    assert "/run/x.sock" in text


def test_a_huge_schema_is_cut():
    manifest = manifest_from("agent: {name: a}\ntools: {t: {}}")
    schema = {"type": "object", "description": "x" * 5000}
    assert "... (see tools/list)" in system_prompt(manifest, {"t": schema})


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (512, "512 bytes"),
        (64 * 1024, "64 KiB"),
        (1536 * 1024, "1.5 MiB"),
        (2 << 30, "2 GiB"),
    ],
)
def test_format_size(size, text):
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30 s"), (90, "90 s"), (120, "2 min"), (3600, "1 h"), (0.5, "0.5 s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
