"""Read another host process's environment by its host pid, or find it by scanning."""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
pid = ctx["holder_pid"]
for name in ("environ", "cmdline", "root/etc/hostname", "mem"):
    probe.must_fail(f"/proc/<holder>/{name}", Path(f"/proc/{pid}/{name}").read_bytes)
seen = {}
holder = []
for entry in Path("/proc").iterdir():
    if entry.name.isdigit():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
            seen[entry.name] = (entry / "environ").read_bytes().decode()
        except OSError:
            continue
        # The holder's last argument is its marker (ours is the JSON context).
        if ctx["holder_marker"] in argv[-2:]:
            holder.append(entry.name)
if holder:
    probe.escape("scan /proc for the holder", holder)
probe.report(environments=seen)
