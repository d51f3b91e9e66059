import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from enclosure.artifacts import Artifact, Quarantine, ScanLimits
from enclosure.errors import ArtifactError, UsageError

RUN = "run_0123456789abcdef"
AWS = 'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n'
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def by_path(artifacts: list[Artifact]) -> dict[str, Artifact]:
    return {str(a.path): a for a in artifacts}


# ---- create, open, discard ------------------------------------------------------


def test_create_copies_the_write_paths_and_mounts_the_working_copies(tmp_path, host):
    report = tmp_path / "report.txt"
    report.write_text("v1\n", encoding="utf-8")
    missing = tmp_path / "new-folder"
    q = Quarantine.create(tmp_path / "q", RUN, [host, report, missing])
    run_dir = tmp_path / "q" / RUN
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert [(m.dest, m.writable) for m in q.mounts] == [
        (str(host), True),
        (str(report), True),
        (str(missing), True),
    ]
    assert all(m.host.is_absolute() for m in q.mounts)
    assert (q.mounts[0].host / "sub" / "c.txt").read_text(encoding="utf-8") == "sea\n"
    assert (run_dir / "0" / "base" / "a.txt").read_bytes() == (
        host / "a.txt"
    ).read_bytes()
    assert q.mounts[1].host.read_text(encoding="utf-8") == "v1\n"
    assert q.mounts[2].host.is_dir()
    assert not missing.exists()  # the host is never written by create
    assert q.scan() == []


def test_open_finds_the_same_quarantine_from_its_run_id(tmp_path, setup):
    (setup.data / "new.txt").write_text("x", encoding="utf-8")
    scanned = setup.quarantine.scan()
    again = Quarantine.open(tmp_path / "quarantine", RUN)
    assert again.mounts == setup.quarantine.mounts
    assert again.artifacts() == scanned


@pytest.mark.parametrize("run_id", ["run_unknown", "../quarantine", "", "a/b"])
def test_open_of_an_unknown_run_is_not_found(tmp_path, setup, run_id):
    with pytest.raises(ArtifactError) as exc:
        Quarantine.open(tmp_path / "quarantine", run_id)
    assert exc.value.code == "E-ARTIFACT-NOT-FOUND"


def test_create_refuses_a_second_quarantine_and_odd_run_ids(tmp_path, setup, host):
    with pytest.raises(ArtifactError) as exc:
        Quarantine.create(tmp_path / "quarantine", RUN, [host])
    assert exc.value.code == "E-ARTIFACT-EXISTS"
    with pytest.raises(UsageError):
        Quarantine.create(tmp_path / "quarantine", "../escape", [host])


def test_create_refuses_a_write_path_that_is_a_symlink_and_leaves_nothing(tmp_path):
    link = tmp_path / "out"
    link.symlink_to("/etc")
    with pytest.raises(ArtifactError) as exc:
        Quarantine.create(tmp_path / "q", RUN, [link])
    assert exc.value.code == "E-ARTIFACT-UNSAFE"
    assert not (tmp_path / "q" / RUN).exists()


def test_discard_removes_everything_and_nothing_outside(tmp_path, setup, host):
    (setup.data / "escape").symlink_to(host)
    locked = setup.data / "locked"
    locked.mkdir()
    (locked / "f").write_text("x", encoding="utf-8")
    locked.chmod(0)
    setup.quarantine.discard()
    assert not (tmp_path / "quarantine" / RUN).exists()
    assert (host / "a.txt").exists()


# ---- scan -------------------------------------------------------------------------


def test_scan_reports_added_modified_and_deleted_files(setup):
    (setup.data / "a.txt").write_text("one\n2\nthree\n", encoding="utf-8")
    (setup.data / "b.txt").unlink()
    (setup.data / "sub" / "deep").mkdir()
    (setup.data / "sub" / "deep" / "new.md").write_text("# hi\n", encoding="utf-8")
    found = by_path(setup.quarantine.scan())
    out = setup.out
    assert {p: a.change for p, a in found.items()} == {
        f"{out}/a.txt": "modified",
        f"{out}/b.txt": "deleted",
        f"{out}/sub/deep/new.md": "added",
    }
    new = found[f"{out}/sub/deep/new.md"]
    assert new.sha256 == hashlib.sha256(b"# hi\n").hexdigest()
    assert (new.size, new.findings, new.state, new.base_sha256) == (
        5,
        (),
        "pending",
        None,
    )
    gone = found[f"{out}/b.txt"]
    assert gone.sha256 is None
    assert gone.base_sha256 == hashlib.sha256(b"bee\n").hexdigest()


def test_ids_are_stable_across_scans_and_differ_between_files(tmp_path, setup):
    (setup.data / "x").write_text("1", encoding="utf-8")
    (setup.data / "y").write_text("1", encoding="utf-8")
    first = setup.quarantine.scan()
    (setup.data / "x").write_text("2", encoding="utf-8")
    second = Quarantine.open(tmp_path / "quarantine", RUN).scan()
    assert [a.id for a in first] == [a.id for a in second]
    assert len({a.id for a in first}) == 2
    assert all(a.id.startswith("art_") for a in first)


def test_a_mode_change_alone_is_a_modification(setup):
    (setup.data / "a.txt").chmod(0o755)
    [artifact] = setup.quarantine.scan()
    assert (artifact.change, artifact.mode) == ("modified", 0o755)
    assert artifact.findings == ("executable",)


def test_a_symlink_to_a_host_file_is_a_finding_and_never_followed(setup):
    (setup.data / "pw").symlink_to("/etc/passwd")
    (setup.data / "near").symlink_to("a.txt")
    found = by_path(setup.quarantine.scan())
    pw = found[f"{setup.out}/pw"]
    assert pw.kind == "symlink"
    assert pw.link_target == "/etc/passwd"
    assert pw.findings == ("symlink", "path-traversal")
    assert pw.sha256 == hashlib.sha256(b"/etc/passwd").hexdigest()
    assert pw.size == len("/etc/passwd")
    assert found[f"{setup.out}/near"].findings == ("symlink",)


def test_a_symlinked_folder_is_not_entered(tmp_path, setup):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_rsa").write_text(PRIVATE_KEY, encoding="utf-8")
    (setup.data / "linked").symlink_to(outside)
    [artifact] = setup.quarantine.scan()
    assert str(artifact.path) == f"{setup.out}/linked"
    assert artifact.kind == "symlink"
    assert not any(f.startswith("secret:") for f in artifact.findings)


def test_hard_links_are_findings(setup):
    (setup.data / "one").write_text("same inode", encoding="utf-8")
    os.link(setup.data / "one", setup.data / "two")
    found = setup.quarantine.scan()
    assert [a.findings for a in found] == [("hard-link",), ("hard-link",)]


def test_a_fifo_is_a_special_file_and_the_scan_does_not_block(setup):
    os.mkfifo(setup.data / "pipe")
    result: list[list[Artifact]] = []
    worker = threading.Thread(
        target=lambda: result.append(setup.quarantine.scan()), daemon=True
    )
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "scan blocked on a FIFO"
    [[artifact]] = result
    assert (artifact.kind, artifact.findings) == ("special", ("special-file",))


def test_a_huge_file_is_too_large_and_not_searched_for_secrets(tmp_path, host):
    limits = ScanLimits(max_size=64 * 1024, secret_scan=1024)
    q = Quarantine.create(tmp_path / "q", RUN, [host], limits=limits)
    text = AWS + "filler line\n" * 100_000
    (q.mounts[0].host / "huge.log").write_text(text, encoding="utf-8")
    [artifact] = q.scan()
    assert artifact.size == len(text)
    assert artifact.findings == ("too-large", "unscanned")


def test_a_large_sparse_file_is_hashed_without_being_kept(tmp_path, host):
    limits = ScanLimits(max_size=1024, secret_scan=1024)
    q = Quarantine.create(tmp_path / "q", RUN, [host], limits=limits)
    with (q.mounts[0].host / "sparse.img").open("wb") as file:
        file.truncate(64 << 20)
    [artifact] = q.scan()
    assert artifact.size == 64 << 20
    assert artifact.findings == ("too-large", "binary")


def test_secrets_are_found(setup):
    (setup.data / "config.env").write_text(AWS, encoding="utf-8")
    (setup.data / "deploy_key").write_text(PRIVATE_KEY, encoding="utf-8")
    found = by_path(setup.quarantine.scan())
    assert found[f"{setup.out}/config.env"].findings == ("secret:AWS Access Key",)
    assert "secret:Private Key" in found[f"{setup.out}/deploy_key"].findings


@pytest.mark.parametrize(
    "raw", [b"new\nline.txt", b"caf\xe9.txt", b"\x1b[31mred", b"..hidden"]
)
def test_odd_names_are_findings_with_printable_paths(setup, raw):
    name = os.fsdecode(raw)
    (setup.data / name).write_text("x", encoding="utf-8")
    [artifact] = setup.quarantine.scan()
    expected = () if raw == b"..hidden" else ("bad-name",)
    assert artifact.findings == expected
    assert "\n" not in str(artifact.path)
    assert "\x1b" not in str(artifact.path)
    str(artifact.path).encode("utf-8")  # no surrogates: safe to log and print


@pytest.mark.parametrize(
    "limits",
    [
        ScanLimits(max_entries=10),
        ScanLimits(max_depth=3),
        ScanLimits(max_total=1024),
    ],
    ids=["entries", "depth", "bytes"],
)
def test_a_quarantine_too_big_or_deep_is_refused(tmp_path, host, limits):
    q = Quarantine.create(tmp_path / "q", RUN, [host], limits=limits)
    data = q.mounts[0].host
    for n in range(20):
        (data / f"f{n}").write_bytes(b"x" * 100)
    data.joinpath("a", "b", "c", "d", "e").mkdir(parents=True)
    with pytest.raises(ArtifactError) as exc:
        q.scan()
    assert exc.value.code == "E-ARTIFACT-LIMIT"


def test_artifacts_are_empty_before_the_first_scan(setup):
    (setup.data / "x").write_text("1", encoding="utf-8")
    assert setup.quarantine.artifacts() == []


def test_a_single_file_write_path_is_scanned_as_one_artifact(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("v1\n", encoding="utf-8")
    q = Quarantine.create(tmp_path / "q", RUN, [report])
    q.mounts[0].host.write_text("v2\n", encoding="utf-8")
    [artifact] = q.scan()
    assert (artifact.path, artifact.change) == (report, "modified")


# ---- diff -------------------------------------------------------------------------


def test_diff_shows_a_text_change(setup):
    (setup.data / "a.txt").write_text("one\n2\nthree\n", encoding="utf-8")
    [artifact] = setup.quarantine.scan()
    lines = setup.quarantine.diff(artifact.id).splitlines()
    assert lines[0] == f"--- a{setup.out}/a.txt"
    assert lines[-4:] == [" one", "-two", "+2", " three"]


def test_diff_of_a_symlink_does_not_read_its_target(setup):
    (setup.data / "pw").symlink_to("/etc/passwd")
    [artifact] = setup.quarantine.scan()
    out = setup.quarantine.diff(artifact.id)
    assert out.splitlines()[-1] == "nothing -> symlink to /etc/passwd"
    assert "root:" not in out


def test_diff_of_a_folder_swapped_for_a_symlink_after_the_scan_reads_nothing(setup):
    (setup.data / "sub" / "c.txt").write_text("changed\n", encoding="utf-8")
    [artifact] = setup.quarantine.scan()
    secret_dir = setup.out.parent / "secret"
    secret_dir.mkdir()
    (secret_dir / "c.txt").write_text("HOST SECRET\n", encoding="utf-8")
    (setup.data / "sub").rename(setup.data / "old-sub")
    (setup.data / "sub").symlink_to(secret_dir)
    out = setup.quarantine.diff(artifact.id)
    assert "HOST SECRET" not in out
    assert "unreadable" in out


def test_diff_of_binaries_gives_both_hashes(setup):
    (setup.data / "a.txt").write_bytes(b"\0\1\2")
    [artifact] = setup.quarantine.scan()
    out = setup.quarantine.diff(artifact.id)
    assert out.splitlines()[-1] == (
        f"binary files differ: a sha256:{artifact.base_sha256} "
        f"b sha256:{artifact.sha256}"
    )


def test_diff_of_an_unknown_id_is_not_found(setup):
    with pytest.raises(ArtifactError) as exc:
        setup.quarantine.diff("art_nope")
    assert exc.value.code == "E-ARTIFACT-NOT-FOUND"


def test_get_returns_one_artifact(setup):
    (setup.data / "x").write_text("1", encoding="utf-8")
    [artifact] = setup.quarantine.scan()
    assert setup.quarantine.get(artifact.id) == artifact
    assert Path(artifact.path).name == "x"
