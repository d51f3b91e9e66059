import pytest

from enclosure.manifest import ModelPrice
from enclosure.monitor import DEFAULT_PRICES, PriceTable
from enclosure.testing import make_enclosure


def test_prices_come_from_the_table_and_the_manifest_extends_it():
    table = PriceTable({"my-model": ModelPrice(input=1.0, output=2.0)})
    assert table.cost("my-model", 1_000_000, 500_000) == 2.0
    model = next(iter(DEFAULT_PRICES))
    assert table.cost(model, 0, 0) == 0.0
    with pytest.raises(ValueError, match="no price") as caught:
        table.cost("unknown", 1, 1)
    assert caught.value.code == "E-COST-MODEL"
    with pytest.raises(ValueError, match="negative"):
        table.cost("my-model", -1, 0)


def test_reported_usage_is_logged_counted_and_trips_max_cost(tmp_path):
    manifest = """
    agent: {name: a}
    tools: {lookup: {effect: read}}
    kill_switch: {max_cost: 1.0}
    cost:
      models:
        house-model: {input: 10.0, output: 30.0}
    """
    with make_enclosure(manifest, tmp_path) as enc:
        enc.tool("lookup")(lambda key: key)
        run = enc.start_run(task="t")
        cost = run.record_usage(
            "house-model", input_tokens=40_000, output_tokens=30_000
        )
        assert cost == pytest.approx(1.3)
        assert run.state.cost == pytest.approx(1.3)
        assert run.call("lookup", {"key": "k"}).status == "killed"
        usage = enc.log.events(kinds=["usage"])[0].event
        assert (usage.model, usage.cost) == ("house-model", pytest.approx(1.3))
        assert enc.log.get_run(run.id).cost == pytest.approx(1.3)
