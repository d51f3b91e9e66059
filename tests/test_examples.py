import os
import subprocess
import sys
from pathlib import Path

from enclosure import Enclosure

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/enclosure.yaml"))


def run_example(name: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``examples/NAME/agent.py`` with its own home; it must exit 0."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name / "agent.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "ENCLOSURE_HOME": str(home)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_every_example_manifest_checks_clean():
    assert EXAMPLES
    for path in EXAMPLES:
        Enclosure.check(path)


def test_quickstart_agent_shows_each_outcome(tmp_path: Path):
    done = run_example("quickstart", tmp_path)
    statuses = [line.split()[1] for line in done.stdout.splitlines()[:-1]]
    assert statuses == [
        "executed",
        "blocked",
        "simulated",
        "executed",
        "pending",
        "blocked",
        "blocked",
    ]
    assert done.stdout.splitlines()[-1] == "audit intact: True"


def test_openai_agents_example_stops_the_runaway_loop(tmp_path: Path):
    done = run_example("openai_agents", tmp_path)
    lines = done.stdout.splitlines()
    assert "send_email was refused" in done.stdout
    assert "refunded 240 on A-1" in done.stdout
    assert sum("model reads: sent to" in line for line in lines) == 3
    assert lines[-2].startswith("Runner.run stopped: E-RUN-KILLED")
    assert lines[-1] == "audit intact: True"


def test_pydantic_ai_example_approves_once_and_stops_the_runaway_loop(tmp_path: Path):
    done = run_example("pydantic_ai", tmp_path)
    lines = done.stdout.splitlines()
    assert "(denied): [enclosure] send_email was refused" in done.stdout
    assert "needs approval: refund" in done.stdout
    assert sum("refunded 240 on A-1" in line for line in lines) == 1
    assert sum("sent to ana@customers.example" in line for line in lines) == 3
    assert lines[-2] == "Agent.run stopped: E-RUN-KILLED"
    assert lines[-1] == "audit intact: True"
