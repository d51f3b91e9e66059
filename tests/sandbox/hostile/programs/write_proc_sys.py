"""Change global kernel settings through /proc/sys, /proc/sysrq-trigger, OOM scores.

Harmless even where it gets through: ``core_pattern`` becomes a plain file name
the driver can see (and puts back); every other global setting is written with
the value it already has, which still needs write permission.
"""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()


def write_back(path: str) -> int:
    return Path(path).write_text(Path(path).read_text())


probe.must_fail(
    "/proc/sys/kernel/core_pattern",
    lambda: Path("/proc/sys/kernel/core_pattern").write_text(f"core.{ctx['marker']}"),
)
for path in (
    "/proc/sys/kernel/modprobe",
    "/proc/sys/kernel/panic",
    "/proc/sys/kernel/sysrq",
    "/proc/sys/kernel/randomize_va_space",
    "/proc/sys/kernel/ctrl-alt-del",
    "/proc/sys/user/max_user_namespaces",
    "/proc/sys/vm/swappiness",
):
    probe.must_fail(path, lambda p=path: write_back(p))
probe.must_fail(
    "/proc/sys/vm/drop_caches", lambda: Path("/proc/sys/vm/drop_caches").write_text("1")
)
probe.must_fail(
    "/proc/sysrq-trigger", lambda: Path("/proc/sysrq-trigger").write_text("h")
)
probe.must_fail(
    "/proc/self/oom_score_adj",
    lambda: Path("/proc/self/oom_score_adj").write_text("-1000"),
)
# Per-namespace settings: the sandbox's own, so allowed; the driver checks the host.
for path, value in {
    "/proc/sys/kernel/hostname": ctx["marker"][:60],
    "/proc/sys/net/ipv4/ip_forward": "1",
}.items():
    try:
        Path(path).write_text(value)
        probe.note(path, "written (own namespace)")
    except OSError as exc:
        probe.note(path, exc.strerror)
probe.report()
