import pytest

from enclosure.errors import UsageError
from enclosure.shadow import parse_outcomes


def test_jsonl_and_csv_read_the_same_outcomes():
    jsonl = '{"case_id": 1, "action": "refund", "args": {"amount": "5"}}\n\n'
    csv_text = "case_id,action,amount\n1,refund,5\n2,none,\n"
    assert parse_outcomes(jsonl, "o.jsonl")[0] == ("1", "refund", {"amount": "5"})
    rows = parse_outcomes(csv_text, "o.csv")
    assert rows[0] == ("1", "refund", {"amount": "5"})
    assert rows[1] == ("2", "none", {})


def test_a_csv_args_column_holds_json():
    rows = parse_outcomes('case_id,action,args\nc,send,"{""to"": ""x""}"\n', "o.csv")
    assert rows[0].args == {"to": "x"}


@pytest.mark.parametrize(
    ("text", "name", "where"),
    [
        ('{"case_id": "a", "action": "x"}\n{oops\n', "o.jsonl", "o.jsonl:2:2"),
        ('{"case_id": "a"}\n', "o.jsonl", "o.jsonl:1:1"),
        ('{"case_id": "a", "action": "x", "args": []}\n', "o.jsonl", "o.jsonl:1:1"),
        ('{"case_id": "a", "action": "x", "extra": 1}\n', "o.jsonl", "o.jsonl:1:1"),
        ("[1]\n", "o.jsonl", "o.jsonl:1:1"),
        ("", "o.jsonl", "o.jsonl:1"),
        ("case,action\n", "o.csv", "o.csv:1:1"),
        ("case_id,action\na,x,extra\n", "o.csv", "o.csv:2"),
        ("case_id,action,args\na,x,{bad\n", "o.csv", "o.csv:2:3"),
    ],
)
def test_bad_input_is_one_coded_error_with_its_place(text, name, where):
    with pytest.raises(UsageError) as info:
        parse_outcomes(text, name)
    assert info.value.code == "E-OUTCOMES-INVALID"
    assert info.value.message.startswith(where + ":")
