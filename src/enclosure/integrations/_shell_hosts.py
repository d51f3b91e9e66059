"""The hosts a command contacts that no URL in its words names, for ``_shell_commands``.

``_shell_commands`` reads the host of every URL and ``user@host:path``. Package
managers, container tools and forge CLIs name theirs otherwise: a Go module path
(``evil.example/x@latest``), ``gh --hostname H`` or ``GH_HOST=H``, an image
reference (``registry.example/img:tag``; a bare ``img`` comes from Docker Hub),
npm's hosted-git shortcuts (``gitlab:o/r``). Some contact hosts written in a file
this reader never opens (``git submodule update`` reads ``.gitmodules``; Podman
resolves a bare image name by its configuration): those give ``?``, a host no
list allows. It knows nothing about rules, and imports the standard library only
(the hook's cold start).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["HOST_VARIABLES", "UNKNOWN", "env_hosts", "program_hosts"]

UNKNOWN = "?"
"""The host of a fetch whose host this reader cannot know."""
_MODULE_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
"""The first element of a Go module path that names a host (it holds a dot)."""
_GO_FETCHES = frozenset({"get", "install"})
_GO_VALUED = frozenset(
    {"C", "o", "p", "modfile", "overlay", "pgo", "pkgdir", "tags", "toolexec"}
    | {"exec", "mod", "ldflags", "gcflags", "asmflags", "gccgoflags", "buildmode"}
    | {"compiler", "installsuffix", "coverpkg", "covermode", "f", "reuse"}
)
"""``go`` flags that take the next word as their value (``-o out.bin``)."""
_GH_DEFAULT = "api.github.com"
_DOCKER_DEFAULT = "docker.io"
_ENGINES = frozenset({"docker", "podman", "nerdctl"})
_ENGINE_FLAGS = frozenset(
    {"-D", "--debug", "--tls", "--tlsverify", "--remote", "-r", "--help", "-v"}
    | {"--version", "--syslog"}
)
"""Global options of the container engines that take no value."""
_ENGINE_VALUED = frozenset(
    {"-H", "--host", "-c", "--context", "--config", "-l", "--log-level", "--url"}
    | {"--connection", "--root", "--runroot", "--storage-driver", "--identity"}
    | {"--tlscacert", "--tlscert", "--tlskey", "--namespace", "-n", "--address"}
)
"""Global options of the container engines that take a value."""
_IMAGE_FLAGS = frozenset(
    {"-d", "-i", "-t", "-P", "-q", "-a", "--rm", "--init", "--privileged"}
    | {"--read-only", "--detach", "--interactive", "--tty", "--publish-all"}
    | {"--no-healthcheck", "--oom-kill-disable", "--quiet", "--all-tags"}
    | {"--disable-content-trust", "--replace", "--rmi", "--env-host", "--no-hosts"}
    | {"--read-only-tmpfs", "--use-api-socket", "--help", "--sig-proxy"}
    | {"--tls-verify", "--http-proxy", "--passwd", "--unsetenv-all", "--rootfs"}
)
"""Options of ``run``, ``create``, ``pull`` and ``push`` that take no value; any
other option takes the next word (``-v a:b``, ``--name x``)."""
_IMAGE_SHORT_FLAGS = {"run": "ditPq", "create": "ditPq", "pull": "aq", "push": "aq"}
"""Their one-letter options that take no value (``-a`` attaches a stream in ``run``)."""
_IMAGE_COMMANDS = frozenset({"run", "create", "pull", "push"})
_IMAGE_GROUPS = frozenset({"image", "container", "plugin", "buildx", "builder"})
_ALL_REFERENCES = frozenset({"manifest", "imagetools", "trust"})
"""Engine commands any of whose words may be an image pushed or pulled."""
_KNOWN = _IMAGE_COMMANDS | _IMAGE_GROUPS | {"build", "compose", "login", "install"}
_KNOWN |= _ALL_REFERENCES
"""The engine commands read here: a word after a global option that is one of
them is the command, any other is the option's value."""
_QUALIFIED = re.compile(r"(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)(:\d+)?/\S+$")
"""An image reference that names its registry (``evil.example:5000/img:tag``)."""
_TRANSPORTS = (
    "docker-archive:",
    "oci:",
    "oci-archive:",
    "containers-storage:",
    "dir:",
    "docker-daemon:",
)
"""Podman's transports that read an image from the disk or the local store."""
_NPM = frozenset({"npm", "npx", "pnpm", "pnpx", "yarn", "bun", "bunx"})
_NPM_SHORTCUTS = {
    "github:": "github.com",
    "gitlab:": "gitlab.com",
    "bitbucket:": "bitbucket.org",
    "gist:": "gist.github.com",
}
"""npm's hosted-git shortcuts (``gitlab:owner/repo``) and the hosts they fetch from."""
_DATABASE_CLIENTS = frozenset(
    {"psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_isready", "createdb", "dropdb"}
    | {"mysql", "mariadb", "mysqldump", "mariadb-dump", "mysqladmin", "redis-cli"}
    | {"mongosh", "mongo", "clickhouse-client"}
)
"""Database clients whose ``-h HOST`` / ``--host=HOST`` / ``host=HOST`` is a host."""
_LOCAL = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})  # noqa: S104 -- names, not a bind
"""A database on this machine (or a socket directory): no network fetch."""
_CONNINFO_HOST = re.compile(r"(?:^|\s)host\s*=\s*'?([^\s']+)")
_NAMING = frozenset({"go", "gh", "git", "cargo", *_ENGINES, *_NPM, *_DATABASE_CLIENTS})
"""The programs ``program_hosts`` reads."""
HOST_VARIABLES = frozenset({"GH_HOST", "GH_REPO", "GOPROXY", "GOSUMDB"})
"""Variables whose value names a host without a scheme (``GOPROXY=evil.example``)."""
_INDEX_NAME = re.compile(
    r"(?i)\w*(INDEX|REGISTR|MIRROR|REPOSITOR|CHANNEL|FIND_LINKS|TRUSTED_HOST"
    r"|DIST_SERVER|UPDATE_ROOT)\w*|npm_config_\w+"
    r"|(PIP|UV|NPM|YARN|PNPM|BUN|CARGO|POETRY|PIPENV|PDM|HATCH|CONDA|MAMBA|GEM"
    r"|BUNDLE|COMPOSER|NUGET|MAVEN|GRADLE|GO|DOCKER|HELM|RUSTUP|DENO)_\w*URL\w*"
)
"""Variables naming where a package tool fetches from (``PIP_INDEX_URL``): a
value known at run time only is a host this reader cannot know. Not any ``*_URL``
(``DATABASE_URL=$DB`` names a database, not a source of code)."""
_CONFIG_FILE = re.compile(
    r"(?i)(PIP|PIP3|UV)_CONFIG_FILE|NPM_CONFIG_USERCONFIG|CONDARC"
)
"""Variables naming a package tool's configuration file (``PIP_CONFIG_FILE``),
whose indexes this reader cannot see: any value is a host it cannot know."""


def program_hosts(argv: list[str]) -> list[str]:
    """The hosts ``argv`` contacts that are written as no URL.

    ``argv[0]`` is the program's basename, wrappers dropped (``git``'s argv
    without its global options).
    """
    program = argv[0]
    if program not in _NAMING:
        return []
    reader = _READERS.get(program)
    if reader is not None:
        return reader(argv[1:])
    if program in _ENGINES:
        return _engine(program, argv[1:])
    if program in _NPM:  # gitlab:o/r, --package=gitlab:o/r, x@gitlab:o/r
        return [
            host
            for word in argv[1:]
            for part in (word, word.partition("=")[2], word[1:].partition("@")[2])
            for prefix, host in _NPM_SHORTCUTS.items()
            if part.startswith(prefix)
        ]
    if program == "cargo" and any(w.startswith("--registry") for w in argv[1:]):
        return [UNKNOWN]  # a registry named in .cargo/config.toml
    return []


def _database_hosts(args: list[str]) -> list[str]:
    """``psql -h db.example``, ``mysql --host=x``, ``psql 'host=x dbname=y'``.

    A host on this machine (``localhost``, a socket directory) is none; a value
    known at run time only is the unknown host.
    """
    values: list[str] = []
    for at, word in enumerate(args):
        after = args[at + 1] if at + 1 < len(args) else ""
        if word in ("-h", "--host"):
            values.append(after)
        elif word.startswith("--host="):
            values.append(word.partition("=")[2])
        elif word.startswith("-h") and len(word) > 2 and not word.startswith("--"):  # noqa: PLR2004
            values.append(word[2:])
        values += _CONNINFO_HOST.findall(word)
    hosts: list[str] = []
    for value in values:
        for name in value.split(","):  # psql -h a,b: either
            if "$" in name or "`" in name:
                hosts.append(UNKNOWN)
            elif name and not name.startswith("/") and name.lower() not in _LOCAL:
                hosts.append(_host(name) or UNKNOWN)
    return hosts


def env_hosts(assignments: list[str]) -> list[str]:
    """The hosts ``NAME=value`` words name without a scheme (``GH_HOST=H``).

    A value with a scheme is a URL, whose host ``_shell_commands`` reads.
    """
    hosts: list[str] = []
    for text in assignments:
        name, _, value = text.partition("=")
        name = name.removesuffix("+")  # GH_HOST+=evil.example
        if _CONFIG_FILE.fullmatch(name):
            hosts += [] if value in ("", "/dev/null") else [UNKNOWN]
            continue
        if name not in HOST_VARIABLES and _INDEX_NAME.fullmatch(name):
            hosts += [UNKNOWN] if "$" in value or "`" in value else []
            continue
        if name not in HOST_VARIABLES or value in ("", "off"):
            continue
        if "$" in value or "`" in value:
            hosts.append(UNKNOWN)  # a host known at run time only
        elif name == "GH_HOST":
            hosts.append(_host(value))
        elif name == "GH_REPO":  # [HOST/]OWNER/REPO
            hosts += [_host(value)] if value.count("/") > 1 else []
        elif name == "GOPROXY":  # proxies, each in turn: https:// if none is given
            entries = re.split(r"[,|]", value)
            hosts += [_host(e) for e in entries if e not in ("", "direct", "off")]
        else:  # GOSUMDB: a name, a key, a URL (the name's when none is given)
            parts = value.split() or [""]
            hosts.append(_host(parts[-1] if len(parts) > 1 else parts[0].split("+")[0]))
    return [h for h in hosts if h]


def _host(text: str) -> str:
    """The host of a URL or of a bare ``host[:port][/path]`` (``""`` for a URL)."""
    if "://" in text:
        return ""  # a URL: read with the others
    try:
        return urllib.parse.urlsplit("//" + text).hostname or UNKNOWN
    except ValueError:
        return UNKNOWN


def _go(args: list[str]) -> list[str]:
    """The hosts of the modules ``go`` fetches: a module path's first element.

    ``go get``, ``install`` and ``mod download``; ``run`` and ``list -m`` with a
    version (``evil.example/x@latest``).
    """
    while args[:1] == ["-C"]:
        args = args[2:]  # go -C DIR get ...
    if not args:
        return []
    command, rest = args[0], args[1:]
    if command == "mod" and rest[:1] == ["download"]:
        rest = rest[1:]
    elif command not in (*_GO_FETCHES, "run", "list"):
        return []
    hosts: list[str] = []
    skip = False
    listing = command == "list" and "-m" in rest  # go list -m -versions MODULE
    for word in rest:
        if skip:
            skip = False
        elif word.startswith("-"):
            name = word.lstrip("-")
            skip = "=" not in name and name in _GO_VALUED
        elif command in _GO_FETCHES or command == "mod" or "@" in word or listing:
            hosts += _module_host(word)
    return hosts


def _module_host(word: str) -> list[str]:
    if "$" in word:
        return [UNKNOWN]
    first = word.partition("@")[0].partition("/")[0]
    if word.startswith((".", "/")) or not _MODULE_HOST.match(first):
        return []  # a directory, or the standard library (std, cmd, fmt)
    return [first.lower()]


def _gh(args: list[str]) -> list[str]:
    """``gh api`` (GitHub's API), ``--hostname H``, ``-R HOST/OWNER/REPO``."""
    hosts: list[str] = []
    named = False
    for at, word in enumerate(args):
        after = args[at + 1] if at + 1 < len(args) else ""
        option, eq, value = word.partition("=")
        value = value if eq else after
        if option == "--hostname":
            hosts.append(_host(value) or UNKNOWN)
            named = True
        elif option in ("-R", "--repo") and value.count("/") > 1:
            hosts.append(_host(value) or UNKNOWN)
        elif word.startswith("-R") and word[2:].count("/") > 1:  # -Rhost/o/r
            hosts.append(_host(word[2:].removeprefix("=")) or UNKNOWN)
    if args[:1] in (["repo"], ["extension"]):  # gh repo clone HOST/OWNER/REPO
        hosts += [_host(w) for w in args[2:] if w.count("/") > 1 and _on_host(w)]
    if args[:1] == ["api"] and not named:
        hosts.append(_GH_DEFAULT)
    return [h for h in hosts if h]


def _on_host(name: str) -> bool:
    """``HOST/OWNER/REPO``: its first element names a host (not ``./dir/x``)."""
    first = name.partition("/")[0]
    return bool(_MODULE_HOST.match(first.partition(":")[0])) or first == "localhost"


def _engine(program: str, args: list[str]) -> list[str]:
    """The registry of the image ``run``, ``create``, ``pull`` or ``push`` names.

    And where ``build --push`` pushes (its tags), ``login`` logs in.
    """
    at = 0
    while at < len(args) and args[at].startswith("-"):
        after = args[at + 1] if at + 1 < len(args) else ""
        valued = args[at] in _ENGINE_VALUED or (
            args[at].startswith("--")
            and "=" not in args[at]
            and args[at] not in _ENGINE_FLAGS
            and after not in _KNOWN
            and not after.startswith("-")
        )  # podman --cgroup-manager systemd pull x: a value, not the command
        at += 2 if valued else 1
    if at < len(args) and args[at] in _IMAGE_GROUPS:
        at += 1  # docker image pull, container run, plugin install
    command = args[at] if at < len(args) else ""
    if _pushes(command, args[at + 1 :]):
        return [UNKNOWN]  # data out to any registry, allowed for pulls or not
    if command in _ALL_REFERENCES:  # manifest push, imagetools create -t, tag
        words = [w.partition("=")[2] or w for w in args[at + 1 :]]
        refs = [w for w in words if not w.startswith("-") and ("/" in w or ":" in w)]
        return [h for w in refs for h in _image_host(program, w)]
    if command in ("build", "compose"):
        return []  # builds and runs here; their pushes are asked above
    if command == "login":
        rest = [w for w in args[at + 1 :] if not w.startswith("-")]
        return [_host(rest[-1]) or UNKNOWN] if rest else [_DOCKER_DEFAULT]
    if command not in _IMAGE_COMMANDS and command != "install":
        return []
    flags = _IMAGE_SHORT_FLAGS.get(command, "")
    at += 1
    rest = args[at:]
    while at < len(args) and args[at].startswith("-") and args[at] != "-":
        if args[at] == "--":  # pull -- IMAGE
            at += 1
            break
        at += 2 if _takes_next(args[at], flags) else 1
    image = _image_host(program, args[at]) if at < len(args) else []
    # An option this reader takes for one with a value may have hidden the image:
    # any word that is a reference naming its registry counts too.
    return image + [_host(w.split("/")[0]) for w in rest if _QUALIFIED.match(w)]


def _pushes(command: str, rest: list[str]) -> bool:
    """``push``, ``manifest push``, ``imagetools create``, ``build --push``, compose.

    An image pushed can carry the whole project out, to a registry pulls may
    come from freely (a review's find: ``docker push ghcr.io/attacker/x``).
    """
    if command == "push" or (command == "manifest" and rest[:1] == ["push"]):
        return True
    if command == "imagetools" and rest[:1] == ["create"]:
        return True
    if command == "compose":
        return "push" in rest
    return command == "build" and any(
        w == "--push" or "push=true" in w or "type=registry" in w for w in rest
    )


def _takes_next(word: str, flags: str) -> bool:
    """The option takes the next word (``-v a:b``, ``-dp 80:80``; not ``-it``).

    In a cluster of letters, the first one that takes a value takes the rest.
    """
    if word.startswith("--"):
        return "=" not in word and word not in _IMAGE_FLAGS
    taking = [at for at, c in enumerate(word[1:], 1) if c not in flags]
    return bool(taking) and taking[0] == len(word) - 1


def _image_host(program: str, ref: str) -> list[str]:
    """The registry an image reference names (``evil.example:5000/x:tag``)."""
    if "$" in ref:
        return [UNKNOWN]
    if "://" in ref or ref.startswith(_TRANSPORTS):
        return []  # a URL (read with the others), or an image on the disk
    first, slash, _ = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return [_host(first)]
    # A bare name: Docker Hub for Docker; Podman resolves it by its configuration
    return [UNKNOWN if program == "podman" else _DOCKER_DEFAULT]


def _git(args: list[str]) -> list[str]:
    """Git commands that fetch from hosts named in ``.gitmodules``, never read here."""
    command = args[0] if args else ""
    if command == "submodule" and "update" in args[1:]:
        return [UNKNOWN]
    recursing = any(
        w in ("--recursive", "--recurse-submodules")
        or (w.startswith("--recurse-submodules=") and not w.endswith("=no"))
        for w in args[1:]
    )
    if command in ("clone", "pull", "fetch") and recursing:
        return [UNKNOWN]
    return []


_READERS: dict[str, Callable[[list[str]], list[str]]] = {
    "go": _go,
    "gh": _gh,
    "git": _git,
    **dict.fromkeys(_DATABASE_CLIENTS, _database_hosts),
}
"""The programs read by a function of their own arguments."""
