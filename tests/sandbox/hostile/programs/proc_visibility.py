"""List every process visible in /proc: only the sandbox's own may show."""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
processes = {}
for entry in Path("/proc").iterdir():
    if entry.name.isdigit():
        try:
            processes[entry.name] = (entry / "cmdline").read_bytes().decode()
        except OSError:
            processes[entry.name] = "?"
arguments = [arg for cmdline in processes.values() for arg in cmdline.split("\0")]
if ctx["holder_marker"] in arguments or any("pytest" in arg for arg in arguments):
    probe.escape("a host process is visible", processes)
if len(processes) > 3:
    probe.escape("more processes than the sandbox's own", processes)
probe.report(processes=processes)
