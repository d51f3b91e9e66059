import pytest
from mcp.shared.exceptions import MCPError

from enclosure.gateway import Gateway
from enclosure.gateway._passthrough import passthrough_handlers

pytestmark = pytest.mark.sandbox


def test_resources_and_prompts_pass_only_where_the_manifest_allows(h, make):
    allowed = "resources: 'memo://public', prompts: [greet]"
    enc = make(f"upstreams:\n  up: {h.fake(**dict([allowed.split(': ', 1)]))}\n")
    enc_none = make(f"upstreams:\n  up: {h.fake()}\n")

    async def main():
        async with h.connect(Gateway(enc)) as session:
            resources = [str(r.uri) for r in (await session.list_resources()).resources]
            public = await session.read_resource("memo://public")
            with pytest.raises(MCPError) as secret:
                await session.read_resource("memo://secret")
            prompts = [p.name for p in (await session.list_prompts()).prompts]
            greeting = await session.get_prompt("greet", {"name": "Ada"})
            with pytest.raises(MCPError) as hidden:
                await session.get_prompt("hidden", {})
        async with h.connect(Gateway(enc_none)) as session:
            caps = session.server_capabilities
        return resources, public, secret.value, prompts, greeting, hidden.value, caps

    resources, public, secret, prompts, greeting, hidden, caps = h.run(main)
    assert resources == ["memo://public"]
    assert public.contents[0].text == "public words"
    assert "E-MCP-NOT-ALLOWED" in secret.message
    assert prompts == ["greet"]
    assert "Ada" in greeting.messages[0].content.text
    assert "E-MCP-NOT-ALLOWED" in hidden.message
    assert caps.resources is None
    assert caps.prompts is None
    assert passthrough_handlers(Gateway(enc_none)) == {}


def test_each_read_and_get_is_a_decision_with_its_result(h, make):
    up = h.fake(resources="'memo://public'", prompts="[greet]")
    enc = make(f"upstreams:\n  up: {up}\n")

    async def main():
        async with h.connect(Gateway(enc)) as session:
            await session.read_resource("memo://public")
            with pytest.raises(MCPError):
                await session.read_resource("memo://secret")
            await session.get_prompt("greet", {"name": "Ada"})

    h.run(main)
    events = [s.event for s in enc.log.events()]
    decided = [(e.tool, e.outcome, e.rule) for e in events if e.kind == "decision"]
    assert decided == [
        ("resources/read", "allow", "upstreams.up.resources"),
        ("resources/read", "deny", "upstreams.resources"),
        ("prompts/get", "allow", "upstreams.up.prompts"),
    ]
    results = [e.disposition for e in events if e.kind == "result"]
    assert results == ["executed", "executed"]
