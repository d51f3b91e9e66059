from __future__ import annotations

import pytest

from enclosure.errors import ManifestError
from enclosure.manifest import ComputeSpec, FilesystemSpec, parse_size
from enclosure.testing import manifest_from


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (4096, 4096),
        ("4096", 4096),
        ("64KiB", 64 * 1024),
        ("64k", 64 * 1024),
        ("512MiB", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("1GiB", 1024**3),
        ("1.5G", int(1.5 * 1024**3)),
        (" 2 mb ", 2 * 1024**2),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", [True, "lots", "-1", 0, "0k", "2PiB", "1e9", 1.5])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


def test_every_cap_has_a_default():
    c = ComputeSpec()
    assert c.backend == "bubblewrap"
    assert c.memory == 512 * 1024**2
    assert c.wall_time == 60
    assert c.env == []


def test_compute_and_filesystem_sections_load():
    m = manifest_from(
        """
        agent: {name: a}
        compute: {cpu: 5s, memory: 128MiB, wall_time: 2m, env: [LANG]}
        filesystem: {read: ./in, write: [out]}
        """
    )
    assert m.compute.cpu == 5
    assert m.compute.wall_time == 120
    assert m.filesystem == FilesystemSpec(read=["./in"], write=["out"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("compute: {memory: lots}", "E-MANIFEST-VALUE"),
        ("compute: {backend: docker}", "E-MANIFEST-VALUE"),
        ("compute: {env: [LD_PRELOAD]}", "E-MANIFEST-VALUE"),
        ("compute: {env: ['A B']}", "E-MANIFEST-VALUE"),
        ("compute: {set_env: {PYTHONPATH: /x}}", "E-MANIFEST-VALUE"),
        ("compute: {processes: 0}", "E-MANIFEST-VALUE"),
        ("compute: {gpu: 1}", "E-MANIFEST-UNKNOWN-KEY"),
        ("filesystem: {write: [../escape]}", "E-MANIFEST-VALUE"),
        ("filesystem: {read: [/a/../b]}", "E-MANIFEST-VALUE"),
    ],
)
def test_bad_sections_point_at_the_value(body, code):
    with pytest.raises(ManifestError) as info:
        manifest_from("agent: {name: a}\n" + body)
    assert info.value.issues[0].code == code
    assert info.value.issues[0].line == 2


def test_a_tool_runs_a_command_or_a_handler_not_both():
    with pytest.raises(ManifestError) as info:
        manifest_from(
            """
            agent: {name: a}
            tools:
              t: {command: [echo, hi], handler: "os:getcwd"}
            """
        )
    assert info.value.code == "E-MANIFEST-VALUE"
    with pytest.raises(ManifestError):
        manifest_from("agent: {name: a}\ntools: {t: {command: ['']}}")
