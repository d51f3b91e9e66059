from __future__ import annotations

import os

from enclosure.manifest import ComputeSpec
from enclosure.sandbox import SandboxSpec
from enclosure.sandbox._direct import DirectRunner

ENV = {"PATH": "/usr/bin:/bin"}


def runner(**caps) -> DirectRunner:
    return DirectRunner(SandboxSpec(ComputeSpec.model_validate(caps), env=ENV))


def test_runs_on_the_host_with_only_the_given_environment(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    r = runner().exec_sync(["sh", "-c", "env; hostname"])
    assert "host-secret" not in r.text()
    assert "PATH=/usr/bin:/bin" in r.text()
    assert os.uname().nodename in r.text()  # not isolated: the host's name


def test_caps_still_apply(tmp_path):
    r = runner(wall_time=0.3).exec_sync(["sleep", "30"])
    assert r.limit == "wall_time"
    r = runner(output=100).exec_sync(["sh", "-c", "yes | head -c 10000"])
    assert r.limit == "output"
    r = runner().exec_sync(["sh", "-c", "pwd"], cwd=str(tmp_path))
    assert r.text().strip() == str(tmp_path)
