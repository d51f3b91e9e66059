"""Leave the sandbox's root through /proc: root, cwd, and inherited descriptors."""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
for via in ("/proc/self/root/../..", "/proc/1/root", "/proc/1/cwd/..", "/proc/2/root"):
    path = Path(via + ctx["sentinel"])
    probe.must_fail(f"write {path}", lambda p=path: p.open("a").write(ctx["marker"]))
fds = {}
for entry in Path("/proc/self/fd").iterdir():
    try:
        fds[entry.name] = str(entry.readlink())
    except OSError as exc:
        fds[entry.name] = exc.strerror
# 0-2 are pipes or /dev/null, 3 is the listing itself; anything else leaked in.
leaked = {fd: target for fd, target in fds.items() if int(fd) > 3}
if leaked:
    probe.escape("inherited descriptors", leaked)
probe.report(fds=fds)
