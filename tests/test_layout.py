"""Repository-level guards: the shape of the tree, not the behaviour of the code.

- Tests and source pair up both ways, as mitmproxy's test/filename_matching.py does:
  ``tests/<pkg>/test_<name>.py`` tests ``src/enclosure/<pkg>/_<name>.py`` (or
  ``<name>.py``, or the package ``<name>/``), and every non-trivial module is imported
  by some test, directly or through the package that re-exports it.
- Imports respect the rooms at the end of STYLE.md: a module may import its own room
  and the rows above it, never a row below.
- Every package declares a sorted, importable ``__all__`` with no private names.
- The lock files cover pyproject.toml and name no index or host; so does the npm
  lock of the gateway's test peers, whose versions are pinned exactly.

Everything is read with ``ast`` from the files on disk, so packages that do not
exist yet are simply not checked. Each test collects every violation and fails once,
listing them all.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import tomllib
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE_DIR = SRC / "enclosure"
TESTS = ROOT / "tests"

# Test files directly in tests/ that check the whole repository, not one module.
REPOSITORY_LEVEL_TESTS = {"test_layout.py", "test_exports.py", "test_examples.py"}

# Test files allowed to have no source module of their own: "tests/...": "why".
UNPAIRED_TESTS_ALLOWED: dict[str, str] = {
    "tests/sandbox/hostile/test_hostile.py": (
        "drives the hostile programs against every sandbox boundary; no single module"
    ),
}

# Non-trivial modules allowed to have no test importing them: "enclosure.x": "why".
UNTESTED_MODULES_ALLOWED: dict[str, str] = {
    "enclosure.audit._migrations.versions.v0001_initial": (
        "an Alembic revision, loaded by path; tests/audit/test_migrate.py runs it"
    ),
    "enclosure.audit._migrations.versions.v0006_run_seq_index": (
        "an Alembic revision, loaded by path; tests/audit/test_migrate.py runs it"
    ),
    "enclosure.audit._migrations.versions.v0007_rare_kind_index": (
        "an Alembic revision, loaded by path; tests/audit/test_migrate.py runs it"
    ),
}

# Modules shorter than this (non-blank lines) need no test of their own.
TRIVIAL_LINES = 30


# --- reading the tree ----------------------------------------------------------------


class Module(NamedTuple):
    name: str
    path: Path
    is_package: bool


class Import(NamedTuple):
    target: str
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def source_modules() -> dict[str, Module]:
    """Every module under src/enclosure, by dotted name."""
    return {
        _module_name(path): Module(
            _module_name(path), path, is_package=path.name == "__init__.py"
        )
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
    }


@cache
def known_names() -> frozenset[str]:
    """Dotted names of all modules and package directories, namespace ones too."""
    names = set(source_modules())
    for module in source_modules().values():
        parent = module.name.rpartition(".")[0]
        while parent:
            names.add(parent)
            parent = parent.rpartition(".")[0]
    return frozenset(names)


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _relative_base(module: str, *, is_package: bool, level: int) -> str:
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    return ".".join(parts[: len(parts) - (level - 1)])


def imports_of(
    path: Path, module: str = "", *, is_package: bool = False
) -> list[Import]:
    """Every import anywhere in the file (functions and TYPE_CHECKING blocks too).

    ``from a import b`` counts as importing the module ``a.b`` when that module
    exists in src/, else as importing ``a``. Relative imports are resolved against
    ``module``.
    """
    found: list[Import] = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = _relative_base(module, is_package=is_package, level=node.level)
                base = f"{prefix}.{base}" if base else prefix
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in known_names() else base
                found.append(Import(target, node.lineno))
    return found


def module_imports(module: Module) -> list[Import]:
    return imports_of(module.path, module.name, is_package=module.is_package)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def reexported(package: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The enclosure modules a package's ``__init__`` imports, followed through."""
    module = source_modules().get(package)
    if module is None or not module.is_package or package in seen:
        return set()
    found: set[str] = set()
    for imp in module_imports(module):
        if within(imp.target, "enclosure") and imp.target != package:
            found.add(imp.target)
            found |= reexported(imp.target, seen | {package})
    return found


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fail_with(title: str, problems: list[str]) -> None:
    assert not problems, f"{title}:\n  " + "\n  ".join(problems)


# --- a. tests and source pair up ---------------------------------------------------


def all_test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def source_candidates(test_file: Path) -> list[Path]:
    """Where the module tested by ``test_file`` may live."""
    folder = PACKAGE_DIR.joinpath(*test_file.parent.relative_to(TESTS).parts)
    name = test_file.stem.removeprefix("test_")
    candidates = [
        folder / f"_{name}.py",
        folder / f"{name}.py",
        folder / name / "__init__.py",
        folder / f"_{name}" / "__init__.py",
    ]
    if folder.name == name:  # tests/approvals/test_approvals.py: the package itself
        candidates.append(folder / "__init__.py")
    return candidates


def test_every_test_file_pairs_with_a_source_module() -> None:
    unpaired: list[str] = []
    for test_file in all_test_files():
        if test_file.parent == TESTS and test_file.name in REPOSITORY_LEVEL_TESTS:
            continue
        if rel(test_file) in UNPAIRED_TESTS_ALLOWED:
            continue
        candidates = source_candidates(test_file)
        if not any(path.is_file() for path in candidates):
            unpaired.append(f"{rel(test_file)}: expected {rel(candidates[0])}")
    fail_with("test files without a source module (rename, or allow-list)", unpaired)


def non_trivial(module: Module) -> bool:
    if module.is_package or module.path.name == "__main__.py":
        return False
    lines = module.path.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.strip()) > TRIVIAL_LINES


def own_reexports(package: str) -> set[str]:
    """The package's own modules its ``__init__`` imports (one level, no further)."""
    module = source_modules().get(package)
    if module is None or not module.is_package:
        return set()
    return {
        imp.target
        for imp in module_imports(module)
        if within(imp.target, package) and imp.target != package
    }


def test_every_source_module_is_imported_by_a_test() -> None:
    imported: set[str] = set()
    for path in sorted(TESTS.rglob("*.py")):
        for imp in imports_of(path):
            imported.add(imp.target)
            imported |= own_reexports(imp.target)
    untested = [
        f"{rel(module.path)} ({name})"
        for name, module in source_modules().items()
        if non_trivial(module)
        and name not in imported
        and name not in UNTESTED_MODULES_ALLOWED
    ]
    fail_with("modules no test imports (directly or via their package)", untested)


def test_allow_lists_name_files_that_exist() -> None:
    stale = [name for name in UNPAIRED_TESTS_ALLOWED if not (ROOT / name).is_file()]
    stale += [name for name in UNTESTED_MODULES_ALLOWED if name not in source_modules()]
    fail_with("allow-list entries for files that are gone", stale)


# --- b. rooms -----------------------------------------------------------------------


class Room(IntEnum):
    """The rows of the table in STYLE.md, innermost first."""

    FOUNDATION = 0
    CONFIGURATION = 1
    PURE_CORE = 2
    SERVICES = 3
    EDGES = 4
    WIRING = 5
    FRONT_DOORS = 6


# The longest matching prefix decides. Other top-level private modules are wiring;
# any other public module or package must be added here (and to STYLE.md).
ROOMS: dict[str, Room] = {
    "enclosure.errors": Room.FOUNDATION,
    "enclosure.types": Room.FOUNDATION,
    "enclosure.models": Room.FOUNDATION,
    "enclosure._json": Room.FOUNDATION,
    "enclosure._clock": Room.FOUNDATION,  # stdlib only: the real Clock, timestamps
    "enclosure._webhook": Room.FOUNDATION,  # stdlib only: signed JSON POSTs
    "enclosure.client": Room.FOUNDATION,  # stdlib only: it runs inside the sandbox
    "enclosure.manifest": Room.CONFIGURATION,
    "enclosure.policy": Room.PURE_CORE,
    "enclosure.audit._events": Room.PURE_CORE,
    "enclosure.audit._chain": Room.PURE_CORE,
    "enclosure.audit._merkle": Room.PURE_CORE,
    "enclosure.audit._checkpoint": Room.PURE_CORE,  # signing bytes, no key files
    "enclosure.audit._redact": Room.PURE_CORE,
    "enclosure.audit._verify": Room.PURE_CORE,
    "enclosure.approvals": Room.SERVICES,
    "enclosure.identity": Room.SERVICES,
    "enclosure.router": Room.SERVICES,
    # The decision log (_store) and its parts (_database, _schema, _event_store,
    # _run_store, _approval_store), and anything else in audit/ not listed above.
    "enclosure.audit": Room.EDGES,
    "enclosure.sandbox": Room.EDGES,
    "enclosure.artifacts": Room.EDGES,
    "enclosure.proxy": Room.EDGES,
    "enclosure.egress": Room.EDGES,  # STYLE.md's proxy/: the egress proxy
    # Monitoring: detectors and prices are pure; notifying, OpenTelemetry export
    # and killing runs happen at its edge, wired in by the facade.
    "enclosure.monitor": Room.EDGES,
    "enclosure.monitor._detectors": Room.PURE_CORE,
    "enclosure.monitor._cost": Room.PURE_CORE,
    # Shadow comparison, ladder gates, manifest suggestions: numbers in, values out.
    "enclosure.shadow": Room.PURE_CORE,
    "enclosure": Room.WIRING,  # the root package re-exports the facade
    "enclosure._enclosure": Room.WIRING,
    "enclosure._run": Room.WIRING,
    "enclosure._workspace": Room.WIRING,
    "enclosure.redteam": Room.WIRING,  # drives a throw-away Enclosure
    # No framework: Run.tool and Run.dispatch are these, and the text the model reads.
    "enclosure.integrations.openai_style": Room.WIRING,
    "enclosure.integrations._common": Room.WIRING,
    "enclosure.server": Room.FRONT_DOORS,
    "enclosure.gateway": Room.FRONT_DOORS,
    "enclosure.cli": Room.FRONT_DOORS,
    "enclosure.agent": Room.FRONT_DOORS,
    "enclosure.demo": Room.FRONT_DOORS,
    "enclosure.integrations": Room.FRONT_DOORS,
    "enclosure.__main__": Room.FRONT_DOORS,
}

# May import anything; nothing in src/ may import it.
TESTING = "enclosure.testing"

# Edges forbidden even where the rows allow them: (importer, imported, why).
FORBIDDEN_EDGES = [
    ("enclosure.policy", "enclosure.audit", "policy returns a Decision, never logs"),
    ("enclosure.sandbox", "enclosure.proxy", "wired together by the facade"),
    ("enclosure.proxy", "enclosure.sandbox", "wired together by the facade"),
    ("enclosure.sandbox", "enclosure.egress", "wired together by the facade"),
    ("enclosure.egress", "enclosure.sandbox", "wired together by the facade"),
]

# Only the CLI itself and `python -m enclosure` may import the CLI.
CLI_IMPORTERS = ("enclosure.cli", "enclosure.__main__")

# The policy core touches no file, socket, process or clock it was not handed.
POLICY_BANNED_MODULES = (
    "os",
    "subprocess",
    "socket",
    "anyio",
    "asyncio",
    "time",
    "datetime",
    "sqlalchemy",
    "shutil",
    "tempfile",
    "threading",
    "multiprocessing",
    "concurrent",
    "selectors",
    "signal",
    "ssl",
    "http",
    "urllib.request",
    "sqlite3",
)
FILE_OPENING_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes"}


def declared_room(name: str) -> Room | None:
    parts = name.split(".")
    for end in range(len(parts), 1, -1):
        room = ROOMS.get(".".join(parts[:end]))
        if room is not None:
            return room
    if len(parts) == 1 or parts[1].startswith("_"):
        return Room.WIRING  # the root package, or an unlisted top-level _module
    return None


def target_room(name: str) -> Room | None:
    """A package is as far out as the modules its ``__init__`` imports."""
    inner = [declared_room(target) for target in reexported(name)]
    rooms = [room for room in inner if room is not None]
    return max(rooms) if rooms else declared_room(name)


def forbidden_edge(source: str, target: str) -> str | None:
    """The rules that hold whatever the rows say."""
    if within(target, TESTING):
        return "nothing in src/ imports enclosure.testing"
    if within(target, "enclosure.cli") and not any(
        within(source, importer) for importer in CLI_IMPORTERS
    ):
        return "nothing imports the CLI"
    for importer, imported, why in FORBIDDEN_EDGES:
        if within(source, importer) and within(target, imported):
            return why
    return None


def edge_problem(source: str, target: str) -> str | None:
    if within(source, TESTING) or not within(target, "enclosure"):
        return None
    problem = forbidden_edge(source, target)
    module = source_modules().get(source)
    if problem or (module and module.is_package and within(target, source)):
        return problem  # a package's __init__ may re-export its own modules
    source_room, room = declared_room(source), target_room(target)
    if source_room is None or room is None or room <= source_room:
        return None
    return f"{source_room.name} may not import {room.name}"


def test_every_module_has_a_room() -> None:
    homeless = [
        f"{rel(module.path)} ({name}): add it to ROOMS here and to STYLE.md"
        for name, module in source_modules().items()
        if declared_room(name) is None and not within(name, TESTING)
    ]
    fail_with("modules without a room", homeless)


def test_imports_point_inward() -> None:
    problems: list[str] = []
    for name, module in source_modules().items():
        for imp in module_imports(module):
            problem = edge_problem(name, imp.target)
            if problem is not None:
                where = f"{rel(module.path)}:{imp.line}"
                problems.append(f"{where}: {name} imports {imp.target}: {problem}")
    fail_with("imports pointing outward (see the rooms in STYLE.md)", problems)


def test_policy_does_no_io() -> None:
    problems: list[str] = []
    for name, module in source_modules().items():
        if not within(name, "enclosure.policy"):
            continue
        where = rel(module.path)
        problems.extend(
            f"{where}:{imp.line}: imports {imp.target}"
            for imp in module_imports(module)
            if any(within(imp.target, banned) for banned in POLICY_BANNED_MODULES)
        )
        for node in ast.walk(parse(module.path)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else None
            if isinstance(func, ast.Attribute):
                called = func.attr
            if called in FILE_OPENING_CALLS:
                problems.append(f"{where}:{node.lineno}: calls {called}()")
    fail_with("I/O in the policy core (time comes from an injected Clock)", problems)


# --- c. __all__ --------------------------------------------------------------------


def dunder_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                names = ast.literal_eval(value)
            except ValueError:
                return None  # computed: not checkable, and not allowed
            return list(names) if isinstance(names, list | tuple) else None
    return None


def ruff_sort_key(name: str) -> tuple[int, list[tuple[int, int]]]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest.

    Within each group the order is natural: digit runs compare as numbers.
    """
    group = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    tokens = [
        (ord("0"), int(tok)) if tok.isdigit() else (ord(tok), 0)
        for tok in re.findall(r"\d+|\D", name)
    ]
    return group, tokens


def is_dunder(name: str) -> bool:
    """``__version__`` is public by convention, though it starts with ``_``."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def public_bindings(tree: ast.Module) -> set[str]:
    """Public names an ``__init__`` should export.

    Its own public functions and classes, and, when it only re-exports (no code
    beyond a lazy ``__getattr__``/``__dir__``), every name it imports from enclosure.
    An ``__init__`` with code of its own (the CLI) may import helpers privately.
    """
    defined: set[str] = set()
    imported: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If | ast.Try):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.ImportFrom) and (
            node.level or within(node.module or "", "enclosure")
        ):
            imported.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
    names = defined if defined - {"__getattr__", "__dir__"} else defined | imported
    return {name for name in names if not name.startswith("_") and name != "*"}


def unresolved(package: ModuleType, names: list[str]) -> list[str]:
    problems: list[str] = []
    for name in names:
        try:
            getattr(package, name)
        except AttributeError:
            problems.append(f"__all__ names {name!r}, which is not defined")
        except Exception as exc:  # noqa: BLE001 -- a lazy export failing is the finding
            problems.append(f"resolving {name!r} fails: {exc!r}")
    return problems


def test_packages_declare_a_sorted_complete_dunder_all() -> None:
    problems: list[str] = []
    for name, module in source_modules().items():
        if not module.is_package:
            continue
        where = rel(module.path)
        tree = parse(module.path)
        exported = dunder_all(tree)
        if exported is None:
            problems.append(f"{where}: declares no literal __all__")
            continue
        if exported != sorted(exported, key=ruff_sort_key):
            problems.append(f"{where}: __all__ is unsorted (ruff check --fix sorts it)")
        problems.extend(
            f"{where}: __all__ exports private name {n!r}"
            for n in exported
            if n.startswith("_") and not is_dunder(n)
        )
        submodules = {n for n in known_names() if n.rpartition(".")[0] == name}
        missing = {
            n for n in public_bindings(tree) if f"{name}.{n}" not in submodules
        } - set(exported)
        problems.extend(f"{where}: {n!r} is public but not in __all__" for n in missing)
        try:
            package = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and not within(exc.name, "enclosure"):
                continue  # an optional dependency (an extra) is not installed
            problems.append(f"{where}: import fails: {exc!r}")
            continue
        except Exception as exc:  # noqa: BLE001 -- any import failure is the finding
            problems.append(f"{where}: import fails: {exc!r}")
            continue
        problems.extend(f"{where}: {p}" for p in unresolved(package, exported))
    fail_with("package __all__ problems", problems)


# --- d. lock files ------------------------------------------------------------------


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {
        normalized(match.group())
        for requirement in requirements
        if (match := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement))
    }


def pinned(lock: Path) -> dict[str, str]:
    text = lock.read_text(encoding="utf-8")
    return {
        normalized(name): version
        for name, version in re.findall(r"(?m)^([A-Za-z0-9][\w.-]*)==([^\s;]+)", text)
    }


def test_locks_cover_pyproject_and_name_no_host() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        pyproject = tomllib.load(file)
    build = requirement_names([*pyproject["build-system"]["requires"], "editables"])
    runtime = requirement_names(pyproject["project"]["dependencies"]) | build
    dev = runtime | requirement_names(
        pyproject["project"]["optional-dependencies"]["dev"]
    )
    problems: list[str] = []
    locks = {"requirements/runtime.lock": runtime, "requirements/dev.lock": dev}
    pins = {}
    for name, wanted in locks.items():
        lock = ROOT / name
        pins[name] = pinned(lock)
        problems.extend(
            f"{name}: no pin for {n}" for n in sorted(wanted - set(pins[name]))
        )
        text = lock.read_text(encoding="utf-8")
        if re.search("://|index-url|find-links", text, re.IGNORECASE):
            problems.append(f"{name}: names an index or host")
    runtime_pins, dev_pins = pins.values()
    problems.extend(
        f"{n}: {version} in the runtime lock, {dev_pins[n]} in the dev lock"
        for n, version in sorted(runtime_pins.items())
        if dev_pins.get(n, version) != version
    )
    fail_with("lock files out of date: run scripts/lock", problems)


def test_the_npm_peers_are_pinned_exactly_hash_locked_and_name_no_host() -> None:
    folder = ROOT / "tests" / "gateway" / "npm"
    problems: list[str] = []
    texts = {
        name: (folder / name).read_text(encoding="utf-8")
        for name in ("package.json", "package-lock.json")
    }
    for name, text in texts.items():
        if "://" in text:
            problems.append(
                f"{name}: names a host (rewrite with scripts/npm-peers --relock)"
            )
    wanted = json.loads(texts["package.json"])["dependencies"]
    problems.extend(
        f"package.json: {n} is not pinned exactly ({v})"
        for n, v in wanted.items()
        if not re.fullmatch(r"\d+\.\d+\.\d+", v)
    )
    packages = json.loads(texts["package-lock.json"])["packages"]
    problems.extend(
        f"package-lock.json: {path} has no integrity hash"
        for path, entry in packages.items()
        if path and not entry.get("link") and "integrity" not in entry
    )
    locked = {n: packages.get(f"node_modules/{n}", {}).get("version") for n in wanted}
    problems.extend(
        f"package-lock.json: {n} is locked at {locked[n]}, not {v}"
        for n, v in wanted.items()
        if locked[n] != v
    )
    fail_with("the gateway's npm peers", problems)
