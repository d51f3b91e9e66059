"""Find the host user's home (the real one, and a world-readable planted one)."""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
probe.note("home inside", str(Path("~").expanduser()))
for home in (ctx["host_home"], ctx["home"], "/home"):
    probe.must_fail(
        f"list {home}", lambda h=home: sorted(p.name for p in Path(h).iterdir())
    )
for name in (".ssh/id_ed25519", ".aws/credentials", ".netrc", ".bash_history"):
    path = Path(ctx["home"]) / name
    probe.must_fail(str(path), path.read_text)
probe.report()
