import os
import subprocess
import sys
from pathlib import Path

from enclosure import Enclosure

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/enclosure.yaml"))


def test_every_example_manifest_checks_clean():
    assert EXAMPLES
    for path in EXAMPLES:
        Enclosure.check(path)


def test_quickstart_agent_shows_each_outcome(tmp_path: Path):
    env = {**os.environ, "ENCLOSURE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart" / "agent.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
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
