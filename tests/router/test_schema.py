from typing import Any

import pytest

from enclosure.router import ArgsValidator, SchemaProblem, ValueValidator


def test_json_schema_accepts_matching_args_unchanged():
    v = ArgsValidator({"type": "object", "properties": {"to": {"type": "string"}}})
    checked = v.check({"to": "a@b.example"})
    assert checked.ok
    assert checked.value == {"to": "a@b.example"}


def test_json_schema_reports_each_problem_with_its_path():
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n", "m"],
        "additionalProperties": False,
    }
    checked = ArgsValidator(schema).check({"n": "x", "extra": 1})
    assert not checked.ok
    assert len(checked.errors) == 3
    assert any(e.startswith("n:") for e in checked.errors)


def test_invalid_json_schema_is_refused_at_build_time():
    with pytest.raises(SchemaProblem):
        ArgsValidator({"type": "objectt"})


def test_remote_refs_are_never_fetched():
    with pytest.raises(SchemaProblem):
        ArgsValidator({"$ref": "http://127.0.0.1:9/schema.json"})


def test_signature_schema_coerces_and_forbids_unknown_args():
    def send(to: str, count: int = 1) -> None:
        pass

    v = ArgsValidator(handler=send)
    assert v.check({"to": "x", "count": "2"}).value == {"to": "x", "count": 2}
    assert not v.check({"to": "x", "cc": "y"}).ok
    assert not v.check({}).ok
    assert v.json_schema["required"] == ["to"]


def test_signature_without_hints_accepts_named_params_only():
    def f(a, b=2):  # type: ignore[no-untyped-def]
        return a

    v = ArgsValidator(handler=f)
    assert v.check({"a": 1}).ok
    assert not v.check({"c": 1}).ok


def test_no_schema_and_no_handler_accepts_any_object():
    assert ArgsValidator().check({"anything": [1, 2]}).ok


def test_output_schema_and_return_hint_validate_results():
    out = ValueValidator({"type": "object", "required": ["id"]})
    assert out.check({"id": 1}).ok
    assert not out.check({"x": 1}).ok

    def f() -> dict[str, int]:
        return {}

    hinted = ValueValidator(handler=f)
    assert hinted.check({"a": 1}).ok
    assert not hinted.check({"a": "not an int"}).ok

    def g() -> Any:
        return 1

    assert ValueValidator(handler=g).check(object()).ok
