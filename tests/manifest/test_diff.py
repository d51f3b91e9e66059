import doctest

from enclosure.manifest import _diff, diff_manifests, load_manifest_text

OLD = """
agent: {name: payer}
tools:
  pay: {mode: approve}
  lookup: {effect: read}
credentials:
  stripe: {source: 'env:STRIPE_KEY', inject: {header: Authorization}, tools: [pay]}
network:
  rules:
    - {name: stripe, host: api.stripe.com, tools: [pay], credential: stripe}
    - {host: example.org, tools: [lookup]}
"""
NEW = """
agent: {name: payer}   # a comment changes nothing
tools:
  pay: {mode: deny}
  search: {effect: read}
credentials:
  stripe: {source: 'env:STRIPE_KEY', inject: {header: Authorization}, tools: [pay]}
network:
  rules:
    - {name: stripe, host: api.stripe.com, tools: [pay], credential: stripe}
    - {host: example.com, tools: [search]}
"""


def test_tools_credentials_and_rules_are_compared_by_name():
    diff = diff_manifests(load_manifest_text(OLD), load_manifest_text(NEW))
    assert diff.tools == (["search"], ["lookup"], ["pay"])
    assert diff.credentials == ([], [], [])
    assert diff.network_rules == ([], [], ["rule-2"])
    assert diff.sections == ["network", "tools"]
    assert not diff.empty


def test_formatting_and_comments_are_no_change():
    reformatted = OLD.replace("{mode: approve}", "\n    mode: approve") + "# end\n"
    diff = diff_manifests(load_manifest_text(OLD), load_manifest_text(reformatted))
    assert diff.empty
    assert diff.tools == ([], [], [])


def test_the_docstring_example_holds():
    assert doctest.testmod(_diff).failed == 0
