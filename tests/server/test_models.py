import pytest
from pydantic import ValidationError

from enclosure.server._models import CallBody, KillBody, StartRunBody, TokenBody


def test_bodies_refuse_unknown_fields_and_bound_their_strings():
    assert CallBody.model_validate({"tool": "t"}).args == {}
    for model, data in [
        (CallBody, {"tool": "t", "surprise": 1}),
        (CallBody, {"tool": ""}),
        (CallBody, {"tool": "bad\nname"}),
        (KillBody, {"reason": ""}),
        (StartRunBody, {"task": "x" * 2001}),
        (TokenBody, {"name": "n", "role": "root"}),
        (TokenBody, {"name": "n", "role": "viewer", "ttl_seconds": 0}),
    ]:
        with pytest.raises(ValidationError):
            model.model_validate(data)
