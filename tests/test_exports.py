import enclosure


def test_public_names_resolve_lazily_and_nothing_private_leaks():
    for name in enclosure.__all__:
        assert getattr(enclosure, name) is not None
    assert all(not n.startswith("_") or n == "__version__" for n in enclosure.__all__)
    assert sorted(dir(enclosure)) == sorted(enclosure.__all__)


def test_unknown_attribute_is_an_attribute_error():
    try:
        enclosure.DoesNotExist  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError:
        return
    raise AssertionError("expected AttributeError")  # pragma: no cover
