"""Use the kernel keyring: add a key, join a session keyring, request a key."""

from attack import Probe, context

ctx = context()
probe = Probe()
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
KEYCTL_JOIN_SESSION_KEYRING = 1
payload = b"hostile"
description = ctx["marker"].encode()
for ring in (KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING):
    probe.syscall_fails(
        f"add_key {ring}", "add_key", b"user", description, payload, len(payload), ring
    )
probe.syscall_fails("keyctl join", "keyctl", KEYCTL_JOIN_SESSION_KEYRING, description)
probe.syscall_fails("request_key", "request_key", b"user", b"ssh:root", None, 0)
probe.report()
