from __future__ import annotations

import pytest

from enclosure.errors import UsageError
from enclosure.integrations import EXTRAS, model_text, require
from enclosure.testing import make_enclosure


def test_a_missing_framework_names_the_extra_to_install():
    with pytest.raises(UsageError) as info:
        require("pydantic_ai_not_installed_anywhere")
    assert info.value.code == "E-INTEGRATION-MISSING"
    assert "pip install 'enclosure[pydantic_ai_not_installed_anywhere]'" in str(
        info.value
    )
    assert EXTRAS["agents"] == "openai-agents"


def test_an_installed_framework_is_imported():
    assert require("json").dumps([]) == "[]"


def test_model_text_explains_each_outcome(tmp_path):
    enc = make_enclosure(
        "agent: {name: a}\ntools:\n  t:\n    rules: [{when: 'args.x > 1', then: deny, "
        "reason: too big}]\n  s: {mode: simulate}\n  a:\n    rules: [{when: 'true', "
        "then: approve, reason: ask first}]\n",
        tmp_path,
    )
    with enc.start_run(task="t") as run:
        denied = run.call("t", {"x": 2})
        simulated = run.call("s", {})
        pending = run.call("a", {})
        failed = run.call("t", {"x": 0}, handler=lambda x: 1 / x)
        ran = run.call("t", {"x": 1}, handler=lambda x: x * 10)
    assert "refused: too big" in model_text(denied)
    assert "simulated" in model_text(simulated)
    assert pending.approval_id is not None
    assert pending.approval_id in model_text(pending)
    assert "failed (" in model_text(failed)
    assert model_text(ran) == "10"
