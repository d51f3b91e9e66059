from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from enclosure.errors import UsageError
from enclosure.manifest import load_manifest
from enclosure.sandbox import (
    BwrapSandbox,
    build_spec,
    manifest_dir,
    open_sandbox,
    resolve_paths,
)
from enclosure.sandbox._direct import DirectRunner
from enclosure.testing import manifest_from

if TYPE_CHECKING:
    from pathlib import Path


def write_manifest(folder: Path, body: str) -> Path:
    path = folder / "enclosure.yaml"
    path.write_text("agent: {name: a}\n" + body, encoding="utf-8")
    return path


def test_relative_paths_are_read_from_the_manifest_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    manifest = load_manifest(
        write_manifest(tmp_path, "filesystem: {read: [data], write: [out/]}\n")
    )
    monkeypatch.chdir("/")
    assert manifest_dir(manifest) == tmp_path
    read, write = resolve_paths(manifest)
    assert read == [tmp_path / "data"]
    assert write == [tmp_path / "out"]


@pytest.mark.parametrize(
    "body",
    [
        "filesystem: {read: [/usr]}",
        "filesystem: {read: [/etc/ssh]}",
        "filesystem: {write: [/]}",
        "filesystem: {write: [/proc/sys]}",
        "filesystem: {write: [/run/enclosure]}",
        "filesystem: {read: [missing]}",
    ],
)
def test_unusable_paths_are_refused(tmp_path, body):
    manifest = load_manifest(write_manifest(tmp_path, body + "\n"))
    with pytest.raises(UsageError) as info:
        resolve_paths(manifest)
    assert info.value.code == "E-SANDBOX-PATH"


def test_a_path_both_read_and_written_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    manifest = load_manifest(
        write_manifest(tmp_path, "filesystem: {read: [d], write: [d]}\n")
    )
    with pytest.raises(UsageError, match="both"):
        resolve_paths(manifest)


def test_env_is_an_allowlist_plus_fixed_values():
    manifest = manifest_from(
        """
        agent: {name: a}
        compute: {env: [LANG, MISSING], set_env: {MODE: test}}
        """
    )
    spec = build_spec(manifest, environ={"LANG": "de_DE.UTF-8", "SECRET": "x"})
    assert spec.env["LANG"] == "de_DE.UTF-8"
    assert spec.env["MODE"] == "test"
    assert "SECRET" not in spec.env
    assert "MISSING" not in spec.env
    assert spec.env["PATH"].startswith("/usr/local/bin")


@pytest.mark.sandbox
def test_the_backend_is_the_one_the_manifest_names():
    bw = open_sandbox(
        manifest_from("agent: {name: a}"), build_spec(manifest_from("agent: {name: a}"))
    )
    none_manifest = manifest_from("agent: {name: a}\ncompute: {backend: none}")
    direct = open_sandbox(none_manifest, build_spec(none_manifest))
    try:
        assert isinstance(bw, BwrapSandbox)
        assert isinstance(direct, DirectRunner)
    finally:
        bw.cleanup()
        direct.cleanup()
