import threading

import pytest

from enclosure.audit import DecisionLog, ManifestRecord, manifest_text_sha256


@pytest.fixture
def log(db_url):
    with DecisionLog(db_url) as opened:
        yield opened


def test_versions_are_numbered_from_one_and_keep_their_exact_text(log):
    first, new = log.add_manifest("a: 1\n", manifest_sha256="m1", by="ann", now=5.0)
    assert new
    assert first == ManifestRecord(1, manifest_text_sha256("a: 1\n"), "m1", "ann", 5.0)
    second, new = log.add_manifest("a: 2\n", manifest_sha256="m2", by="bob", now=6.0)
    assert (second.version, new) == (2, True)
    assert log.get_manifest(2) == (second, "a: 2\n")
    assert log.get_manifest(3) is None
    assert log.list_manifests() == [first, second]


def test_the_same_text_again_is_the_same_version(log):
    first, _ = log.add_manifest("a: 1\n", manifest_sha256="m1", by="ann", now=5.0)
    again, new = log.add_manifest("a: 1\n", manifest_sha256="m1", by="bob", now=9.0)
    assert (again, new) == (first, False)
    assert len(log.list_manifests()) == 1


def test_concurrent_uploads_get_distinct_versions(log):
    barrier = threading.Barrier(4)
    made = []

    def upload(n):
        barrier.wait(timeout=5)
        made.append(log.add_manifest(f"n: {n}\n", manifest_sha256="m", by="x", now=1))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r.version for r, _ in made) == [1, 2, 3, 4]
    assert all(new for _, new in made)
