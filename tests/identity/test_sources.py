import importlib
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from enclosure.errors import CredentialError
from enclosure.identity import (
    COMMAND_TIMEOUT_S,
    CommandSource,
    EnvSource,
    FileSource,
    SecretSource,
    TokenSource,
    load_source,
)
from enclosure.manifest import CredentialSpec, Injection

SECRET = "s3cr3t-value-in-sources-test"


def spec(source: str) -> CredentialSpec:
    return CredentialSpec(source=source, inject=Injection(header="X-Key"))


def fetch(source: str, name: str = "cred") -> str:
    return load_source(spec(source), name=name).fetch(name, spec(source))


def write_plugin(tmp_path: Path, monkeypatch, body: str) -> str:
    """A fresh plugin module on sys.path; returns its (unique) module name."""
    module = f"plugin_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, module, None)  # restored afterwards
    del sys.modules[module]
    importlib.invalidate_caches()
    return module


# --- env -----------------------------------------------------------------------------


def test_env_source_reads_the_variable(monkeypatch):
    monkeypatch.setenv("ENCLOSURE_TEST_SECRET", SECRET)
    assert load_source(spec("env:ENCLOSURE_TEST_SECRET")) == EnvSource(
        "ENCLOSURE_TEST_SECRET"
    )
    assert fetch("env:ENCLOSURE_TEST_SECRET") == SECRET


@pytest.mark.parametrize(("value", "state"), [(None, "is not set"), ("", "is empty")])
def test_env_source_names_a_missing_or_empty_variable(monkeypatch, value, state):
    if value is None:
        monkeypatch.delenv("ENCLOSURE_TEST_MISSING", raising=False)
    else:
        monkeypatch.setenv("ENCLOSURE_TEST_MISSING", value)
    with pytest.raises(CredentialError) as caught:
        fetch("env:ENCLOSURE_TEST_MISSING", name="github")
    assert caught.value.code == "E-CREDENTIAL-UNAVAILABLE"
    assert caught.value.message == (
        f"credential github: environment variable ENCLOSURE_TEST_MISSING {state}"
    )


# --- file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"{SECRET}\n", SECRET),
        (f"{SECRET}\r\n", SECRET),
        (SECRET, SECRET),
        (f"  {SECRET} \n\n", f"  {SECRET} "),
    ],
)
def test_file_source_reads_the_text_less_its_trailing_newline(
    tmp_path, content, expected
):
    path = tmp_path / "secret"
    path.write_bytes(content.encode())
    assert fetch(f"file:{path}") == expected


def test_file_source_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "token").write_text(SECRET, encoding="utf-8")
    assert load_source(spec("file:~/token")) == FileSource(tmp_path / "token")
    assert fetch("file:~/token") == SECRET


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda p: None, "No such file or directory"),
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"\n"), "is empty"),
        (lambda p: p.write_bytes(SECRET.encode() + b"\xff"), "is not UTF-8 text"),
    ],
)
def test_file_source_errors_name_the_file_not_its_content(tmp_path, setup, fragment):
    path = tmp_path / "secret"
    setup(path)
    with pytest.raises(CredentialError) as caught:
        fetch(f"file:{path}")
    assert caught.value.code == "E-CREDENTIAL-UNAVAILABLE"
    assert str(path) in caught.value.message
    assert fragment in caught.value.message
    assert SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None or isinstance(caught.value.__cause__, OSError)


# --- command -------------------------------------------------------------------------


def py(code: str) -> str:
    """A command: source running this Python code."""
    return f"command:{sys.executable} -c {code!r}"


def test_command_source_runs_argv_without_a_shell_and_trims_stdout():
    assert fetch(py(f"print('  {SECRET}  ')")) == SECRET
    assert fetch("command:echo $HOME 'a b'") == "$HOME a b"


def test_command_source_splits_like_a_shell_and_keeps_the_default_timeout():
    source = load_source(spec("command:op read 'op://vault/my item/token'"))
    assert source == CommandSource(("op", "read", "op://vault/my item/token"))
    assert isinstance(source, CommandSource)
    assert source.timeout_s == COMMAND_TIMEOUT_S == 10.0


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (
            (
                f"import sys; print({SECRET!r}); print({SECRET!r}, file=sys.stderr); "
                "sys.exit(3)"
            ),
            "exited 3",
        ),
        (
            f"import os; print({SECRET!r}, flush=True); os.kill(os.getpid(), 9)",
            "was killed by signal 9",
        ),
        ("print()", "printed nothing"),
        (
            f"import sys; sys.stdout.buffer.write({SECRET.encode()!r} + b'\\xff')",
            "printed something not UTF-8",
        ),
    ],
)
def test_command_failures_report_the_status_never_the_output(code, fragment):
    with pytest.raises(CredentialError) as caught:
        fetch(py(code), name="vault")
    assert caught.value.code == "E-CREDENTIAL-UNAVAILABLE"
    assert caught.value.message.startswith(
        f"credential vault: command {sys.executable}"
    )
    assert fragment in caught.value.message
    assert SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_command_that_does_not_exist_is_reported():
    with pytest.raises(CredentialError, match="cannot start: No such file"):
        fetch("command:/nonexistent/secret-tool get")


def test_command_that_cannot_be_split_fails_when_loaded():
    with pytest.raises(CredentialError, match="cannot be split"):
        load_source(spec("command:echo 'unbalanced"))
    with pytest.raises(CredentialError, match="command is empty"):
        load_source(spec("command:''"))


def test_command_timeout_kills_the_whole_group_and_drops_partial_output():
    # The grandchild keeps stdout open: only killing the group ends the read.
    code = (
        f"import subprocess, sys; print({SECRET!r}, flush=True); "
        "subprocess.Popen(['sleep', '60']); subprocess.run(['sleep', '60'])"
    )
    source = CommandSource((sys.executable, "-c", code), timeout_s=0.3)
    with pytest.raises(CredentialError) as caught:
        source.fetch("slow", spec("command:x"))
    assert caught.value.message.endswith("timed out after 0.3 s (killed)")
    assert SECRET not in repr(caught.value)
    assert caught.value.__context__ is None


# --- plugin --------------------------------------------------------------------------

PLUGIN = f"""
    class Vault:
        def __init__(self):
            self.calls = 0

        def fetch(self, name, spec):
            self.calls += 1
            return {SECRET!r} + "-" + name

    instance = Vault()

    def factory():
        return Vault()

    not_a_source = 42
    nested = type("Nested", (), {{"source": instance}})
"""


@pytest.mark.parametrize("attribute", ["instance", "Vault", "factory", "nested.source"])
def test_plugin_source_accepts_an_instance_a_class_or_a_factory(
    tmp_path, monkeypatch, attribute
):
    module = write_plugin(tmp_path, monkeypatch, PLUGIN)
    source = load_source(spec(f"plugin:{module}:{attribute}"))
    assert isinstance(source, SecretSource)
    assert source.fetch("db", spec("env:X")) == f"{SECRET}-db"


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("{module}", "write plugin:module:object"),
        ("{module}:missing", "has no missing"),
        ("{module}:not_a_source", "not a SecretSource"),
        (
            "enclosure_no_such_module_xyz:obj",
            "cannot import enclosure_no_such_module_xyz",
        ),
    ],
)
def test_plugin_loading_errors_are_clear(tmp_path, monkeypatch, target, fragment):
    module = write_plugin(tmp_path, monkeypatch, PLUGIN)
    with pytest.raises(CredentialError) as caught:
        load_source(spec("plugin:" + target.format(module=module)), name="db")
    assert caught.value.code == "E-CREDENTIAL-UNAVAILABLE"
    assert caught.value.message.startswith("credential db: plugin ")
    assert fragment in caught.value.message


def test_plugin_import_and_construction_failures_are_named_by_type_only(
    tmp_path, monkeypatch
):
    broken = write_plugin(tmp_path, monkeypatch, f"raise RuntimeError({SECRET!r})")
    with pytest.raises(CredentialError) as caught:
        load_source(spec(f"plugin:{broken}:obj"))
    assert caught.value.message.endswith(f"importing {broken} raised RuntimeError")
    assert caught.value.__context__ is None
    angry = write_plugin(
        tmp_path,
        monkeypatch,
        f"""
        class Angry:
            def __init__(self):
                raise ValueError({SECRET!r})
            def fetch(self, name, spec):
                return "x"
        """,
    )
    with pytest.raises(
        CredentialError, match=r"creating it raised ValueError$"
    ) as caught:
        load_source(spec(f"plugin:{angry}:Angry"))
    assert SECRET not in repr(caught.value)
    assert caught.value.__context__ is None


# --- token ---------------------------------------------------------------------------


def test_token_source_is_minted_by_the_broker_not_fetched():
    source = load_source(spec("token:billing-api"))
    assert source == TokenSource("billing-api")
    with pytest.raises(CredentialError, match="minted per request by the broker"):
        source.fetch("billing", spec("token:billing-api"))
