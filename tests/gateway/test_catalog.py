import mcp_types as types

from enclosure.gateway._catalog import Binding, bindings, offered, tool_sha256
from enclosure.gateway._upstream import Listing
from enclosure.testing import manifest_from

MANIFEST = """\
agent: {name: a}
upstreams:
  fs: {command: [fs]}
  git: {command: [git]}
tools:
  read_file: {}
  git.status: {}
  log: {upstream: git}
  local: {handler: "os:getcwd"}
"""


def tool(name, description="d"):
    return types.Tool(
        name=name, description=description, input_schema={"type": "object"}
    )


def test_bindings_follow_upstream_keys_and_names():
    found = bindings(manifest_from(MANIFEST))
    assert found == {
        "read_file": Binding(None, "read_file"),
        "git.status": Binding("git", "status"),
        "log": Binding("git", "log"),
    }


def test_a_name_two_upstreams_offer_is_withheld_and_namespaced_names_are_not():
    listings = {
        "fs": Listing(tools={"read_file": tool("read_file")}),
        "git": Listing(
            tools={"read_file": tool("read_file"), "status": tool("status")}
        ),
    }
    entries = offered(manifest_from(MANIFEST), listings)
    assert entries["read_file"].code == "E-TOOL-AMBIGUOUS"
    assert entries["git.status"].withheld is None
    assert entries["git.status"].tool.name == "git.status"
    assert "log" not in entries  # not offered by git


def test_the_hash_covers_name_description_and_schema_only():
    base = tool_sha256(tool("t"))
    assert tool_sha256(tool("t", "other")) != base
    assert tool_sha256(tool("u")) != base
    titled = types.Tool(
        name="t", description="d", input_schema={"type": "object"}, title="T"
    )
    assert tool_sha256(titled) == base
