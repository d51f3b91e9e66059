"""Reboot or reconfigure the machine: reboot(2) and the magic SysRq key."""

from pathlib import Path

from attack import Probe

probe = Probe()
MAGIC1, MAGIC2 = 0xFEE1DEAD, 0x28121969
CMD_CAD_OFF, CMD_CAD_ON = 0x00000000, 0x89ABCDEF
# Only the Ctrl-Alt-Del switch, set to what it already is: harmless if it gets
# through. (The driver also checks /proc/sys/kernel/ctrl-alt-del.)
try:
    cad_on = Path("/proc/sys/kernel/ctrl-alt-del").read_text().strip() != "0"
except OSError:
    cad_on = True
name, cmd = ("CAD_ON", CMD_CAD_ON) if cad_on else ("CAD_OFF", CMD_CAD_OFF)
probe.syscall_fails(f"reboot {name}", "reboot", MAGIC1, MAGIC2, cmd, None)
probe.must_fail("sysrq", lambda: Path("/proc/sysrq-trigger").write_text("h"))
probe.report()
