r"""Programs that run their stdin as commands, for ``_shell_commands``.

A shell or interpreter given no script reads its program from stdin; so do other
programs whose input can reach a shell: SQLite's and DuckDB's ``.shell``, psql's
and mysql's ``\!``, ed's and vi's ``!``, sed's ``e`` (``sed -f -``), gdb's
``shell``, dc's ``!``, sftp's and ftp's ``!``, GNU parallel running each line,
and ``su``, ``script``, ``chroot``... given no command, which start a shell. What
a pipe, a here-document or a here-string feeds them is code this reader does not
read (the line is opaque). It knows nothing about rules, and imports the standard
library only (the hook's cold start).
"""

from __future__ import annotations

import posixpath
import re

__all__ = ["STDIN_READERS", "reads_commands", "stream"]

_DATABASES = {
    "sqlite3": frozenset({"-separator", "-nullvalue", "-newline", "-vfs", "-cmd"})
    | frozenset({"-init", "-maxsize", "-mmap"}),
    "sqlite": frozenset({"-separator", "-nullvalue", "-newline", "-vfs", "-cmd"})
    | frozenset({"-init", "-maxsize", "-mmap"}),
    "duckdb": frozenset({"-separator", "-nullvalue", "-newline", "-cmd", "-init"}),
}
"""Shells of file databases: stdin is read when no SQL follows the database file.
Their options are single-dash words (``-separator X``), those listed take a value."""
_GETOPT = {
    "psql": ("cdfhpUvoLFRPT", frozenset({"command", "file", "dbname", "host"})),
    "mysql": ("eDhPSu", frozenset({"execute", "database", "host", "port", "user"})),
    "mariadb": ("eDhPSu", frozenset({"execute", "database", "host", "port", "user"})),
    "sftp": ("bBcDFiJlPRsSoX", frozenset()),
    "ftp": ("", frozenset()),
    "lldb": ("osxfcpOSkK", frozenset({"source", "one-line", "file", "core"})),
    "dc": ("ef", frozenset({"expression", "file"})),
    "parallel": ("jSPadIE", frozenset({"jobs", "sshlogin", "arg-file", "delimiter"})),
    "sem": ("jSPadIE", frozenset({"jobs", "sshlogin", "arg-file", "delimiter"})),
    "su": ("cgGsw", frozenset({"command", "group", "shell", "whitelist-environment"})),
    "sqlplus": ("", frozenset()),
    "runuser": ("cgGsuw", frozenset({"command", "group", "shell", "user"})),
    "script": ("cEIOBTm", frozenset({"command", "echo", "log-in", "log-out"})),
    "sg": ("c", frozenset()),
    "newgrp": ("", frozenset()),
    "chroot": ("", frozenset({"userspec", "groups"})),
    "pkexec": ("", frozenset({"user"})),
}
"""Programs read with getopt: the letters of their options that take a value, and
the long options that do (``--file=F`` or ``--file F``)."""
_GIVEN = {
    "psql": ("c", "f", "l", "V", "command", "file", "list", "version", "help"),
    "mysql": ("e", "V", "execute", "version", "help"),
    "mariadb": ("e", "V", "execute", "version", "help"),
    "sftp": ("b",),
    "lldb": ("b", "batch", "version", "help"),
    "dc": ("e", "f", "expression", "file", "version", "help"),
    "su": ("c", "command", "help", "version"),
    "runuser": ("c", "command", "help", "version"),
    "script": ("c", "command", "help", "version"),
    "sg": ("c",),
}
"""Options with which the program takes its commands from elsewhere (``-c SQL``,
``-f FILE``, ``--batch``) or runs none: stdin is then no program."""
_NEEDS_NO_OPERAND = frozenset(
    {"dc", "parallel", "sem", "su", "runuser", "script", "sg", "newgrp", "pkexec"}
    | {"chroot"}
)
"""Those that read their stdin only when given no operand: dc and parallel run
what an operand names; the others start a shell when they are given no command
(``chroot DIR``, ``su USER``, ``script FILE`` count one operand each)."""
_OPERANDS_ALLOWED = {"chroot": 1, "su": 1, "runuser": 1, "script": 1, "sg": 1}
_OPERANDS_ALLOWED |= {"newgrp": 1}
_FROM_FILE = frozenset({"f", "file", "b"})
"""Options naming the file commands are read from (``-`` is stdin)."""
_FROM_FILE_OF = {"lldb": frozenset({"s", "S", "source", "source-before-file", "f"})}
_PERMUTED = frozenset({"su", "runuser", "script"})
"""util-linux reads their options anywhere (``su root -s /bin/sh``, ``script F -q``)."""
_TEMPLATE = re.compile(r"\{[^{}]*\}$")
"""``parallel {}`` (``{.}``, ``{1}``): each input line is the command run."""
_INCLUDES = re.compile(r"(?i)(?:\\i\w*|\\\.|\bsource)\s+['\"]?([^\s'\";]+)")
r"""psql's ``\i``/``\ir``/``\include``, mysql's ``source``/``\.``: a file of SQL."""
_COMPILERS = frozenset({"gcc", "cc", "c++", "g++", "clang", "clang++", "tcc", "c99"})
"""Compilers that take their source from stdin as ``-`` (``tcc -run -`` runs it)."""
_NO_PROGRAM = frozenset({"-E", "-M", "-MM", "-fsyntax-only", "--version", "-v"})
"""Compiler options with which no program is built (``echo | gcc -dM -E -``)."""
_GDB_DONE = frozenset({"batch", "batch-silent", "version", "help"})
_STREAMS = ("/dev/", "/proc/")
_EDITORS = frozenset(
    {"vi", "vim", "nvim", "view", "ex", "vimdiff", "gvim", "rvim", "rview", "evim"}
    | {"vimx", "vim.basic", "vim.tiny", "vim.nox", "nvi", "editor", "sensible-editor"}
)

STDIN_READERS = frozenset(
    {*_DATABASES, *_GETOPT, *_EDITORS, *_COMPILERS, "ed", "sed", "gdb"},
)
"""The programs ``reads_commands`` knows (any other reads no commands on stdin)."""


def reads_commands(program: str, args: list[str]) -> bool:
    """Whether ``program`` with ``args`` runs what its stdin says.

    ``args`` are its words after the program, quotes removed.
    """
    if program in _DATABASES:
        return _database(program, args)
    if program in _GETOPT:
        return _getopt_reads(program, args)
    if program in _EDITORS:  # keys from stdin, unless ``-`` makes it the text
        ex_mode = program == "ex" or any(
            w[:1] == "-" and w[1:2] != "-" and ("e" in w or "E" in w) for w in args
        )  # -e, -Es, -nEs, -Ne: Ex mode, where ``-`` is no text but commands
        return ex_mode or "-" not in args
    if program in _COMPILERS:  # gcc -xc - -o p, tcc -run -; not gcc -dM -E -
        return "-" in args and not any(w in _NO_PROGRAM for w in args)
    if program == "gdb":  # -batch: it runs -ex and -x and exits
        return not any(w.lstrip("-") in _GDB_DONE for w in args)
    return program == "ed" or (program == "sed" and _sed_reads_stdin(args))


def _getopt_reads(program: str, args: list[str]) -> bool:
    if program == "sqlplus":  # sqlplus [-S] [LOGON] [@SCRIPT]: stdin but for @SCRIPT
        return not any(w.startswith("@") for w in args)
    options, operands = _getopt(program, args)
    from_file = _FROM_FILE_OF.get(program, _FROM_FILE)
    if any(o in from_file and _stdin_file(v) for o, v in options):
        return True  # psql -f -, sftp -b -, dc -f /dev/stdin, lldb -s /dev/stdin
    if any(_stdin_file(m) for _, v in options for m in _INCLUDES.findall(v)):
        return True  # psql -c '\\i /dev/stdin', mysql -e 'source /dev/stdin'
    if program in ("parallel", "sem") and operands and _TEMPLATE.match(operands[0]):
        return True  # parallel {}: each line read is a command
    given = _GIVEN.get(program, ())
    if any(o in given for o, _ in options):
        return False
    if program in _NEEDS_NO_OPERAND:
        return len(operands) <= _OPERANDS_ALLOWED.get(program, 0)
    return True


def _database(program: str, args: list[str]) -> bool:
    """``sqlite3 DB`` reads stdin; ``sqlite3 DB 'SQL'`` and ``duckdb -c SQL`` do not."""
    valued = _DATABASES[program]
    operands = 0
    skip = False
    for word in args:
        if skip:
            skip = False
        elif word in ("-c", "-s", "--version", "-version", "--help", "-help"):
            return False
        elif word.startswith("-"):
            skip = word in valued
        else:
            operands += 1
    return operands <= 1


def _sed_reads_stdin(args: list[str]) -> bool:
    """``sed -f -`` (``-nf /dev/stdin``, ``--file=-``): its script from stdin."""
    for at, word in enumerate(args):
        after = args[at + 1] if at + 1 < len(args) else ""
        script = ""
        name, eq, value = word.partition("=")
        if len(name) > 3 and "--file".startswith(name):  # noqa: PLR2004 -- --fi, --fil: getopt_long takes a prefix
            script = value if eq else after
        elif word.startswith("-") and not word.startswith("--") and "f" in word:
            script = word[word.index("f") + 1 :] or after
        if script and _stdin_file(script):
            return True
    return False


def _stdin_file(name: str) -> bool:
    """``-``, ``/dev/stdin``, ``/dev/fd/N``, ``/proc/self/fd/N``: a stream."""
    return name == "-" or stream(name)


def stream(name: str) -> bool:
    """``name`` is under ``/dev`` or ``/proc``, however spelled (``//dev/./stdin``)."""
    if not name.startswith("/"):
        return False
    return posixpath.normpath("/" + name.lstrip("/")).startswith(_STREAMS)


def _getopt(program: str, args: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Options (name, value) and operands, as getopt_long reads ``args``.

    Options end at ``--`` or, as in GNU getopt with a ``+`` (su, script, parallel
    and the shell starters), at the first operand: what follows is a command.
    """
    letters, long_valued = _GETOPT[program]
    options: list[tuple[str, str]] = []
    operands: list[str] = []
    at = 0
    while at < len(args):
        word = args[at]
        after = args[at + 1] if at + 1 < len(args) else ""
        at += 1
        if word == "--":
            operands += args[at:]
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if not eq and name in long_valued:
                value = after
                at += 1
            options.append((name, value))
        elif word.startswith("-") and len(word) > 1:
            for i, letter in enumerate(word[1:], 2):
                if letter in letters:
                    value = word[i:] or after
                    at += 0 if word[i:] else 1
                    options.append((letter, value))
                    break
                options.append((letter, ""))
        elif word == "-" and program in ("su", "runuser", "sg", "newgrp"):
            options.append(("-", ""))  # a login shell
        elif program in _NEEDS_NO_OPERAND and program not in _PERMUTED:
            operands += args[at - 1 :]
            break
        else:
            operands.append(word)
    return options, operands
