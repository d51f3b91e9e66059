r"""A Bash command line read as Bash reads it, for rules over Claude's ``Bash`` tool.

Regular expressions over the raw line always leak (``/bin/rm``, ``\rm``, ``FOO=1
rm``, ``rm`` on a second line, ``bash -c '...'``, a ``#`` inside a word). So the
hook hands rules the line's *simple commands* instead: ``parse`` splits it on
``;``, ``&``, ``&&``, ``||``, ``|`` and newlines, descends into ``$(...)``,
backticks, ``<(...)``/``>(...)``, subshells, ``{ ...; }`` groups, ``if``/``while``
bodies and ``bash|sh|zsh -c STRING``; drops leading ``NAME=value`` words and
wrappers (``env``, ``command``, ``sudo``, ``nice``, ``timeout 5``, ``xargs``, ...);
removes quotes and backslashes as the shell does, expands ``~`` and globs against
the files there are; and resolves every path-like word against the working
directory (following ``cd``) and symlinks.

Whatever it cannot follow safely makes the line ``opaque`` (``eval``, brace
expansion, a variable or glob as the program, unbalanced quotes or brackets,
``case``, function definitions, a here-document fed to a shell, a ``cd`` to a place
it cannot know); the example manifest asks a human about those. This module
knows nothing about rules, manifests or the log: text and a directory in, data out.
It imports the standard library only (the hook's cold start).
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import urllib.parse
from dataclasses import dataclass, field

__all__ = ["MAX_LINE", "Command", "Parsed", "parse"]

_META = frozenset(" \t\n;&|()<>")
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"})
_OPENERS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!"})
_CLOSERS = frozenset({"fi", "done", "esac", "}"})
_OPAQUE_WORDS = frozenset({"eval", "case", "function", "select", "coproc", "alias"})
_BRACES = re.compile(r"\{[^{}\s]*(,|\.\.)[^{}\s]*\}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`|;]+")
_SCP = re.compile(r"^(?:[\w.-]+@)?([A-Za-z0-9][\w.-]*\.[A-Za-z]{2,}):")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_MAX_DEPTH = 8
MAX_LINE = 64 * 1024
"""Longer lines are not read (opaque): reading one costs time the hook has not."""
_MAX_GLOB_PARTS = 2  # wildcard components expanded in one word
_MAX_MATCHES = 512

# Wrappers run the rest of their words as a command; each maps to its options
# that take a value (skipped with the option) and how many operands come before
# the command (``timeout DURATION``, ``chroot ROOT``: one).
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "nohup": (frozenset(), 0),
    "setsid": (frozenset(), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "sudo": (
        frozenset(
            {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R"}
            | {"--user", "--group", "--chdir", "--host", "--prompt", "--role"}
            | {"--type", "--other-user", "--command-timeout", "--chroot"}
        ),
        0,
    ),
    "doas": (frozenset({"-u", "-C"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "-P", "-u"}), 0),
    "taskset": (frozenset(), 1),
    "chrt": (frozenset(), 1),
    "xargs": (
        frozenset({"-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a", "-l"})
        | frozenset({"--max-args", "--max-procs", "--delimiter", "--arg-file"}),
        0,
    ),
    "unbuffer": (frozenset(), 0),
    "busybox": (frozenset(), 0),
    "toybox": (frozenset(), 0),
    "pkexec": (frozenset({"--user"}), 0),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "strace": (frozenset({"-o", "-e", "-p", "-s"}), 0),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s"}), 0),
}
_GIT_VALUED = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
# ``git -c`` settings that run nothing (``alias.*``, ``core.pager``... run commands)
_GIT_SAFE_SETTING = re.compile(
    r"(?i)(user\.(name|email)|color\.[\w.]+|advice\.\w+|init\.defaultbranch"
    r"|commit\.gpgsign|core\.quotepath|safe\.directory|log\.\w+)="
)
# Variables that change what a command runs (a pager, an editor, a loader, PATH).
_RISKY_NAME = re.compile(
    r"(?i)(LD_\w+|DYLD_\w+|BASH_ENV|ENV|PROMPT_COMMAND|CDPATH|PATH|IFS|BASH_FUNC\w*"
    r"|SHELLOPTS|PS4|GIT_CONFIG\w*|PYTHONSTARTUP|PYTHONPATH|PERL5OPT|NODE_OPTIONS"
    r"|RUBYOPT|\w*(COMMAND|EDITOR|VISUAL|PAGER|SHELL|ASKPASS|DIFF|PROXY|EXEC_PATH"
    r"|HOOKSPATH|TEXTCONV|PROGRAM|_CMD))="
)
_SHELL_VALUED = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})
_C_RUNNERS = frozenset({"su", "runuser", "script", "sg"})
_DECLARERS = frozenset({"export", "declare", "typeset", "readonly", "local"})
_CHDIR = frozenset({"-C", "--chdir", "-D"})


@dataclass(slots=True)
class Command:
    """One simple command, as rules see it (``as_json``)."""

    program: str
    """The basename of the program run, after wrappers: ``/bin/rm`` → ``rm``."""
    argv: list[str]
    """Its words, quotes removed, wrappers (and ``git``'s global options) dropped."""
    paths: list[str] = field(default_factory=list)
    """Every operand and redirection target as an absolute, symlink-free path."""
    hosts: list[str] = field(default_factory=list)
    """The host of every URL (``user@host:path`` too) in its words, lower case."""
    sources: list[str] = field(default_factory=list)
    """Programs whose output it reads: earlier stages of its pipeline and the
    commands substituted into its words or redirections."""
    reads_code: bool = False
    """A shell or interpreter that reads its program from stdin or a pipe."""

    def as_json(self) -> dict[str, object]:
        """The plain data a CEL condition reads."""
        return {
            "program": self.program,
            "argv": list(self.argv),
            "paths": list(self.paths),
            "hosts": list(self.hosts),
            "sources": list(self.sources),
        }


@dataclass(slots=True)
class Parsed:
    """A whole command line: its simple commands, and whether it hid anything."""

    commands: list[Command]
    opaque: bool
    why: str = ""
    """What made it opaque (for the reason a human reads)."""


@dataclass(slots=True)
class _Word:
    text: str = ""
    pattern: str = ""  # the glob pattern: quoted parts escaped
    quoted: bool = False
    dynamic: bool = False  # holds a variable or a substitution
    globbed: bool = False
    unquoted: str = ""  # its unquoted characters, for brace expansion
    inner: list[Command] = field(default_factory=list)  # substituted commands
    feeds: list[Command] = field(default_factory=list)  # inside >(...)


class _Parser:
    def __init__(self, text: str, cwd: str, home: str, depth: int = 0) -> None:
        self.s = text
        self.i = 0
        self.cwd = cwd
        self.home = home
        self.depth = depth
        self.heredocs: list[tuple[str, bool, list[Command]]] = []
        self.opaque = ""
        self.ends: list[str] = []  # the closers of the lists being read
        self.linked = False  # a symlink was made earlier on this line
        self.code_readers = 0  # shells and interpreters reading code from stdin
        self.inputs = 0  # input redirections read so far

    # --- characters ----------------------------------------------------------------

    def peek(self, n: int = 0) -> str:
        at = self.i + n
        return self.s[at] if at < len(self.s) else ""

    def mark(self, why: str) -> None:
        if not self.opaque:
            self.opaque = why

    def blanks(self) -> None:
        """Skip blanks, line continuations and comments (``#`` starting a word)."""
        while True:
            c = self.peek()
            if c in (" ", "\t"):
                self.i += 1
            elif c == "\\" and self.peek(1) == "\n":
                self.i += 2
            elif c == "#":
                while self.peek() not in ("", "\n"):
                    self.i += 1
            else:
                return

    # --- lists, pipelines, commands ---------------------------------------------------

    def command_list(self, end: str) -> list[Command]:
        """Commands up to ``end`` (``)``, ``}``, a backtick, or the end of text)."""
        self.ends.append(end)
        try:
            return self._list(end)
        finally:
            self.ends.pop()

    def _backticked(self) -> bool:
        return self.peek() == "`" and "`" in self.ends

    def _list(self, end: str) -> list[Command]:  # noqa: C901, PLR0912, PLR0915 -- one loop over the operators
        out: list[Command] = []
        feeding: list[str] = []  # programs of the earlier stages of this pipeline
        last: list[str] = []
        saved_cwd = self.cwd
        while True:
            self.blanks()
            c = self.peek()
            if not c:
                if end:
                    self.mark(f"no closing {end!r}")
                break
            if c == end and end != "}":
                self.i += 1
                break
            if end == "}" and c == "}" and self._word_ends(1):
                self.i += 1
                break
            if c == "\n":
                self.i += 1
                self._read_heredocs()
                feeding, last = [], []
                continue
            if c == ";" and self.peek(1) == ";":
                self.mark("case")
                self.i += 2
                continue
            if c in ";&":
                self.i += 2 if self.peek(1) == c else 1
                feeding, last = [], []
                continue
            if c == "|":
                self.i += 1
                if self.peek() == "|":
                    self.i += 1
                    feeding, last = [], []
                else:
                    if self.peek() == "&":
                        self.i += 1
                    feeding = feeding + last
                continue
            if c == ")":
                self.mark("unbalanced ')'")
                self.i += 1
                continue
            at = self.i
            stage = self.stage()
            if self.i == at:  # a closer of an outer list, here: never loop on it
                self.mark(f"an unexpected {c!r}")
                self.i += 1
            for cmd in stage:
                cmd.sources = feeding + cmd.sources
                if cmd.reads_code and feeding:
                    self.mark("a shell or interpreter runs what a pipe feeds it")
            out += stage
            last = [cmd.program for cmd in stage]
        if end:
            self.cwd = saved_cwd  # a subshell's or group's cd ends with it
        return out

    def _word_ends(self, n: int) -> bool:
        return self.peek(n) in _META or self.peek(n) == ""

    def stage(self) -> list[Command]:
        """One pipeline stage: a subshell, a group or a simple command."""
        c = self.peek()
        if c == "(" and self.peek(1) == "(":
            self._skip_balanced()  # (( arithmetic ))
            return []
        if c == "(":
            self.i += 1
            inner = self.command_list(")")
            self._redirections_after(inner)
            return inner
        if c == "{" and self.peek(1) in (" ", "\t", "\n"):
            self.i += 1
            inner = self.command_list("}")
            self._redirections_after(inner)
            return inner
        return self.simple()

    def _redirections_after(self, cmds: list[Command]) -> None:
        words: list[_Word] = []
        paths: list[str] = []
        strings: list[_Word] = []
        inputs = self.inputs
        while True:
            self.blanks()
            if not self._redirection(words, paths, strings):
                break
        if strings:
            self.mark("a here-string fed to a group")
        if self.inputs > inputs and any(c.reads_code for c in cmds):
            self.mark("a shell or interpreter in a group reads redirected input")
        substituted = [c.program for w in words for c in w.inner]
        for cmd in cmds:
            cmd.paths += paths
            cmd.sources += substituted

    def simple(self) -> list[Command]:
        words: list[_Word] = []
        redirected: list[str] = []  # redirection targets, resolved
        strings: list[_Word] = []  # here-strings (<<< WORD)
        heredoc_at = len(self.heredocs)
        inputs = self.inputs
        while True:
            self.blanks()
            c = self.peek()
            if self._redirection(words, redirected, strings):
                continue
            if not c or c in "\n;&|)" or self._backticked():
                break
            if c == "(":
                self.mark("a function definition or '(' inside a command")
                self._skip_balanced()
                continue
            words.append(self.word())
        closes = bool(words) and not words[0].quoted and words[0].text in _CLOSERS
        if closes and self.inputs > inputs and self.code_readers:
            # ``done < <(curl ...)``: the loop's shell reads what is redirected
            self.mark("a shell or interpreter in a loop reads redirected input")
        made = self._finish(words, redirected)
        for cmd in [c for c in made if c.reads_code and strings]:
            for text in strings:
                if text.dynamic or cmd.program not in _SHELLS:
                    self.mark("a here-string fed to a shell or interpreter")
                else:
                    made = made + self._sub_parse(text.text)
        for at in range(heredoc_at, len(self.heredocs)):
            delim, expands, _ = self.heredocs[at]
            self.heredocs[at] = (delim, expands, made)
        return made

    def _redirection(
        self, words: list[_Word], paths: list[str], strings: list[_Word]
    ) -> bool:
        """Read one redirection at the cursor, if there is one."""
        start = self.i
        j = self.i
        while j < len(self.s) and self.s[j].isdigit():
            j += 1
        rest = self.s[j : j + 3]
        if rest.startswith(("<(", ">(")) and j == start:
            return False  # process substitution: a word
        ops = ("&>>", "&>", "<<<", "<<-", "<<", "<>", ">>", ">|", ">&", "<&", ">", "<")
        op = next((o for o in ops if rest.startswith(o)), None)
        if op is None or (op.startswith("&") and j != start):
            return False
        self.i = j + len(op)
        self.blanks()
        if op.startswith("<"):
            self.inputs += 1
        if op in ("<<", "<<-"):
            target = self.word()
            self.heredocs.append((target.text, not target.quoted, []))
            return True
        target = self.word()
        words.append(_Word(inner=target.inner, feeds=target.feeds, dynamic=True))
        if op in (">&", "<&") and (target.text.isdigit() or target.text == "-"):
            return True
        if op == "<<<":
            strings.append(target)
            return True
        paths += self._paths(target)
        return True

    def _read_heredocs(self) -> None:
        """Skip the bodies of the here-documents opened on the line just ended."""
        for delim, expands, cmds in self.heredocs:
            body: list[str] = []
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                line = self.s[self.i : end]
                self.i = end + 1
                if line.strip("\t") == delim:
                    break
                body.append(line)
            else:
                self.mark("an unterminated here-document")
            text = "\n".join(body)
            if expands and ("$(" in text or "`" in text):
                self.mark("a substitution inside a here-document")
            if any(cmd.reads_code for cmd in cmds):
                self.mark("a here-document fed to a shell or interpreter")
        self.heredocs = []

    def _skip_balanced(self) -> None:
        """Skip from a ``(`` at the cursor past its matching ``)``."""
        depth = 0
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return
        self.mark("unbalanced '('")

    # --- words ---------------------------------------------------------------------

    def word(self) -> _Word:  # noqa: C901, PLR0912, PLR0915 -- one loop over the cases
        w = _Word()
        first = True
        while True:
            c = self.peek()
            if not c:
                break
            if c in "<>" and self.peek(1) == "(" and first:
                self.i += 2
                inner = self._nested(")")
                if c == ">":
                    w.feeds += inner
                else:
                    w.inner += inner
                self._add(w, "/dev/fd/63", quoted=True, dynamic=True)
            elif c in _META or self._backticked():
                break
            elif c == "\\":
                nxt = self.peek(1)
                self.i += 2
                if nxt == "`" and "`" in self.ends:
                    self.mark("backticks nested in backticks")
                if nxt != "\n":
                    self._add(w, nxt or "\\", quoted=True)  # a last \ stays
            elif c == "'":
                end = self.s.find("'", self.i + 1)
                if end < 0:
                    self.mark("an unbalanced quote")
                    end = len(self.s)
                self._add(w, self.s[self.i + 1 : end], quoted=True)
                self.i = end + 1
            elif c == '"':
                self.i += 1
                self._double(w)
            elif c == "$" and self.peek(1) == "'":
                self.i += 2
                self._ansi(w)
            elif c == "$" and self.peek(1) == '"':
                self.i += 2
                self._double(w)
            elif c == "$":
                self._dollar(w, quoted=False)
            elif c == "`":
                self.i += 1
                w.inner += self._nested("`")
                self._add(w, "$(...)", quoted=False, dynamic=True)
            elif c == "~" and first:
                self.i += 1
                user = ""
                while self.peek() and (self.peek().isalnum() or self.peek() in "._-"):
                    user += self.peek()
                    self.i += 1
                home = os.path.expanduser("~" + user) if user else self.home  # noqa: PTH111 -- pathlib costs the hook's cold start
                if self.peek() in ("/", ":", "") or self.peek() in _META:
                    self._add(w, home, quoted=True)  # ~ and ~user, then / or the end
                else:
                    self._add(w, "~" + user, quoted=False)
                    w.unquoted += "~" + user
            else:
                self.i += 1
                self._add(w, c, quoted=False)
                w.unquoted += c
                if c in "*?[":
                    w.globbed = True
            first = False
        if _BRACES.search(w.unquoted):
            self.mark("brace expansion")
        return w

    def _add(self, w: _Word, text: str, *, quoted: bool, dynamic: bool = False) -> None:
        w.text += text
        w.pattern += glob.escape(text) if quoted else text
        w.quoted = w.quoted or quoted
        w.dynamic = w.dynamic or dynamic

    def _double(self, w: _Word) -> None:
        w.quoted = True
        while True:
            c = self.peek()
            if not c:
                self.mark("an unbalanced quote")
                return
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.peek(1) in '$`"\\\n':
                nxt = self.peek(1)
                self.i += 2
                if nxt != "\n":
                    self._add(w, nxt, quoted=True)
            elif c == "$":
                self._dollar(w, quoted=True)
            elif c == "`":
                self.i += 1
                w.inner += self._nested("`")
                self._add(w, "$(...)", quoted=True, dynamic=True)
            else:
                self.i += 1
                self._add(w, c, quoted=True)

    def _ansi(self, w: _Word) -> None:
        out = ""
        while True:
            c = self.peek()
            if not c:
                self.mark("an unbalanced quote")
                break
            self.i += 1
            if c == "'":
                break
            if c == "\\" and self.peek():
                nxt = self.peek()
                self.i += 1
                simple = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b"}
                simple |= {"e": "\x1b", "E": "\x1b", "f": "\f", "v": "\v"}
                if nxt in simple:
                    out += simple[nxt]
                elif nxt == "x" or nxt.isdigit():
                    digits = re.match(
                        r"[0-9a-fA-F]{1,2}" if nxt == "x" else r"[0-7]{0,2}",
                        self.s[self.i :],
                    )
                    text = digits.group(0) if digits else ""
                    self.i += len(text)
                    if nxt == "x":
                        out += chr(int(text, 16)) if text else "\\x"
                    else:
                        out += chr(int(nxt + text, 8) & 0xFF)
                elif nxt in ("u", "U", "c"):
                    self.mark("an escape Bash decodes and this reader does not")
                    out += "\\" + nxt
                else:
                    out += nxt
            else:
                out += c
        self._add(w, out, quoted=True)

    def _dollar(self, w: _Word, *, quoted: bool) -> None:
        nxt = self.peek(1)
        if nxt == "(" and self.peek(2) == "(":
            start = self.i
            self.i += 1
            self._skip_balanced()
            self._add(w, self.s[start : self.i], quoted=quoted, dynamic=True)
        elif nxt == "(":
            self.i += 2
            w.inner += self._nested(")")
            self._add(w, "$(...)", quoted=quoted, dynamic=True)
        elif nxt == "{":
            end = self.s.find("}", self.i)
            end = len(self.s) if end < 0 else end
            inner = self.s[self.i + 2 : end]
            if "$(" in inner or "`" in inner:
                self.mark("a substitution inside ${...}")
            self._add(w, self.s[self.i : end + 1], quoted=quoted, dynamic=True)
            self.i = end + 1
        else:
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", self.s[self.i :])
            if m is None:
                self.i += 1
                self._add(w, "$", quoted=quoted)
            else:
                self.i += len(m.group(0))
                self._add(w, m.group(0), quoted=quoted, dynamic=True)

    def _nested(self, end: str) -> list[Command]:
        """The commands of a substitution, read from the same text."""
        if self.depth >= _MAX_DEPTH:
            self.mark("substitutions nested too deeply")
        outer_heredocs, self.heredocs = self.heredocs, []
        self.depth += 1
        try:
            return self.command_list(end)
        finally:
            self.depth -= 1
            if self.heredocs:
                self._read_heredocs()
            self.heredocs = outer_heredocs

    # --- a simple command -------------------------------------------------------------

    def _finish(self, words: list[_Word], redirected: list[str]) -> list[Command]:
        inner = [cmd for w in words for cmd in w.inner]
        feeds = [cmd for w in words for cmd in w.feeds]
        real = [w for w in words if w.text or w.quoted]
        while (
            real
            and _NAME.match(real[0].unquoted)
            and real[0].text.startswith(
                real[0].unquoted[: real[0].unquoted.index("=") + 1]
            )
        ):
            self._assigns(real.pop(0).text)  # NAME=value before the command
        while real and not real[0].quoted and real[0].text in _OPENERS:
            real.pop(0)
        if real and not real[0].quoted and real[0].text in _CLOSERS:
            real.pop(0)
        if real and not real[0].quoted and real[0].text in ("for", "in"):
            real = []
        made: list[Command] = []
        if real:
            made = self._command(real, redirected, [c.program for c in inner])
        elif redirected:
            made = [Command("", [], paths=redirected)]
        if real and real[0].text in _DECLARERS and not real[0].quoted:
            for w in real[1:]:
                self._assigns(w.text)
        for cmd in feeds:
            cmd.sources += [c.program for c in made]
        return inner + made + feeds

    def _command(
        self, words: list[_Word], redirected: list[str], substituted: list[str]
    ) -> list[Command]:
        if self.linked:
            self.mark("a symlink made earlier on the same line")
        words, via_xargs = self._strip_wrappers(words)
        if not words:
            return []
        head = words[0]
        if head.dynamic or head.globbed:
            self.mark("a variable, substitution or glob as the program")
        program = os.path.basename(head.text.rstrip("/")) or head.text  # noqa: PTH119 -- pathlib costs the hook's cold start
        if not head.quoted and program in _OPAQUE_WORDS:
            self.mark(f"{program!r}")
        argv = [program] + [w.text for w in words[1:]]
        operands = words[1:]
        if program == "git":
            argv, operands = self._git(argv, operands)
        expanded: list[str] = []
        for w in operands:
            expanded += self._glob(w)
        paths = [p for w in operands for p in self._paths(w)] + redirected
        cmd = Command(
            program=program,
            argv=[program, *expanded] if program != "git" else argv,
            paths=[*paths, "$(xargs)"] if via_xargs else paths,
            hosts=_hosts(argv),
            sources=list(substituted),
        )
        self._effects(program, argv, operands)
        nested, cmd.reads_code = self._runs(program, words)
        self.code_readers += cmd.reads_code
        if cmd.reads_code and substituted:
            self.mark("a shell or interpreter runs what another command writes")
        if program == "find":
            nested += self._find_exec(words)
        return [cmd, *nested]

    def _effects(self, program: str, argv: list[str], operands: list[_Word]) -> None:
        """What a command changes for the ones after it: ``cd``, a new symlink."""
        if program in ("cd", "pushd"):
            self._cd(operands)
        if program == "ln" and any(
            w == "--symbolic" or (w[:1] == "-" and w[1:2] != "-" and "s" in w)
            for w in argv[1:]
        ):
            self.linked = True

    def _assigns(self, word: str) -> None:
        if _RISKY_NAME.match(word):
            self.mark(f"{word.partition('=')[0]} changes what a command runs")

    def _git(
        self, argv: list[str], operands: list[_Word]
    ) -> tuple[list[str], list[_Word]]:
        """``git``'s argv without its global options (``git -C . push`` → ``push``)."""
        at = 1
        while at < len(argv) and argv[at].startswith("-"):
            option = argv[at]
            if option == "-c" and at + 1 < len(argv):
                if not _GIT_SAFE_SETTING.match(argv[at + 1]):
                    self.mark("git -c with a setting that can run a command")
            elif option.startswith(("--exec-path", "--config-env")):
                self.mark(f"git {option.partition('=')[0]}")
            at += 2 if option in _GIT_VALUED else 1
        return ["git", *argv[at:]], operands[at - 1 :]

    def _strip_wrappers(self, words: list[_Word]) -> tuple[list[_Word], bool]:
        via_xargs = False
        while words:
            name = os.path.basename(words[0].text)  # noqa: PTH119 -- pathlib costs the hook's cold start
            if words[0].dynamic or name not in _WRAPPERS:
                return words, via_xargs
            via_xargs = via_xargs or name == "xargs"
            valued, operands = _WRAPPERS[name]
            at = 1
            while at < len(words):
                text = words[at].text
                if text == "--":
                    at += 1
                    break
                option = text.partition("=")[0]
                if name == "env" and text in ("-S", "--split-string"):
                    self.mark("env -S")
                if option in _CHDIR and option in valued | {"--chdir"}:
                    self.mark(f"{name} {option} runs the command elsewhere")
                if name == "env" and _NAME.match(text):
                    self._assigns(text)
                    at += 1
                elif text.startswith("-") and text != "-":
                    cluster = not text.startswith("--") and len(text) > 2  # noqa: PLR2004
                    last = f"-{text[-1]}" if cluster else text
                    at += 2 if last in valued else 1
                else:
                    break
            at += operands
            if at >= len(words):
                return words[:1], via_xargs  # the wrapper alone (``sudo -s``)
            words = words[at:]
        return words, via_xargs

    def _runs(  # noqa: C901, PLR0911 -- one case per kind of program
        self, program: str, words: list[_Word]
    ) -> tuple[list[Command], bool]:
        """The commands a program runs from a string, and whether it reads code.

        ``bash -c STRING``, ``su -c STRING``, ``watch WORDS``, ``trap STRING``:
        STRING's commands, read the same way. A shell or interpreter given no
        script (or ``-``, or ``/dev/fd/N``) reads its program from stdin.
        """
        rest = words[1:]
        if program in _SHELLS:
            return self._shell_args(rest)
        if _interpreter(program):
            return [], _reads_code(rest)
        if program in _C_RUNNERS:
            for at, w in enumerate(rest):
                if w.text in ("-c", "--command") and at + 1 < len(rest):
                    return self._string(rest[at + 1]), False
                if w.text.startswith("--command="):
                    return self._sub_parse(w.text.partition("=")[2]), False
        if program == "flock":  # flock [options] FILE (-c STRING | COMMAND...)
            at = 0
            while at < len(rest) and rest[at].text.startswith("-"):
                at += 2 if rest[at].text in ("-w", "-E", "--timeout") else 1
            after = rest[at + 1 :]
            if after and after[0].text in ("-c", "--command"):
                return (self._string(after[1]) if len(after) > 1 else []), False
            return (self._command(after, [], []) if after else []), False
        if program == "watch":
            at = 0
            while at < len(rest) and rest[at].text.startswith("-"):
                at += 2 if rest[at].text in ("-n", "--interval", "-d") else 1
            return self._joined(rest[at:]), False
        if program == "trap":
            command = [w for w in rest if not w.text.startswith("-")][:1]
            return (self._string(command[0]) if command else []), False
        return [], False

    def _shell_args(self, rest: list[_Word]) -> tuple[list[Command], bool]:
        has_c = stdin = False
        at = 0
        while at < len(rest):
            t = rest[at].text
            if t == "--":
                at += 1
                break
            if t in _SHELL_VALUED:
                at += 2
                continue
            if t[:1] in "-+" and len(t) > 1:
                if not t.startswith("--"):
                    has_c = has_c or "c" in t[1:]
                    stdin = stdin or "s" in t[1:]
                at += 1
                continue
            break
        operand = rest[at] if at < len(rest) else None
        if has_c:
            return (self._string(operand) if operand else []), False
        if operand is None or operand.text == "-" or operand.dynamic:
            return [], True
        return [], stdin

    def _string(self, w: _Word) -> list[Command]:
        if w.dynamic:
            self.mark("a shell runs a string this reader cannot see")
            return []
        return self._sub_parse(w.text)

    def _joined(self, words: list[_Word]) -> list[Command]:
        if any(w.dynamic for w in words):
            self.mark("a command runs words this reader cannot see")
            return []
        return self._sub_parse(" ".join(w.text for w in words))

    def _find_exec(self, words: list[_Word]) -> list[Command]:
        """The commands ``find -exec ... ;`` runs, on the paths find starts from."""
        starts: list[str] = []
        for w in words[1:]:
            if w.text.startswith(("-", "(", "!")):
                break
            starts += self._paths(w)
        nested: list[Command] = []
        at = 1
        while at < len(words):
            if words[at].text in ("-exec", "-execdir", "-ok", "-okdir"):
                end = at + 1
                while end < len(words) and words[end].text not in (";", "+"):
                    end += 1
                chunk = [w for w in words[at + 1 : end] if w.text != "{}"]
                for cmd in self._command(chunk, [], []) if chunk else []:
                    cmd.paths += starts or [self._real(".")]
                    nested.append(cmd)
                at = end
            at += 1
        return nested

    def _sub_parse(self, text: str) -> list[Command]:
        if self.depth >= _MAX_DEPTH:
            self.mark("shells nested too deeply")
            return []
        sub = _Parser(text, self.cwd, self.home, self.depth + 1)
        cmds = sub.parse()
        if sub.opaque:
            self.mark(sub.opaque)
        return cmds

    def _cd(self, operands: list[_Word]) -> None:
        targets = [w for w in operands if w.text == "-" or not w.text.startswith("-")]
        if not targets:
            self.cwd = self.home
        elif targets[0].dynamic or targets[0].globbed or targets[0].text == "-":
            self.mark("cd to a directory this reader cannot know")
        else:
            self.cwd = self._paths(targets[0])[0]

    def _glob(self, w: _Word) -> list[str]:
        if not w.globbed or w.dynamic:
            return [w.text]
        pattern = w.pattern
        if sum(glob.has_magic(part) for part in pattern.split("/")) > _MAX_GLOB_PARTS:
            self.mark("a glob too wide to expand")
            return [w.text]
        rooted = os.path.join(self.cwd, pattern)  # noqa: PTH118 -- pathlib costs the hook's cold start
        found = sorted(itertools.islice(glob.iglob(rooted), _MAX_MATCHES + 1))  # noqa: PTH207 -- pathlib costs the hook's cold start
        if not found:
            return [w.text]
        if len(found) > _MAX_MATCHES:
            self.mark("a glob with too many matches")
        if os.path.isabs(pattern):  # noqa: PTH117 -- pathlib costs the hook's cold start
            return found
        return [os.path.relpath(f, self.cwd) for f in found]

    def _paths(self, w: _Word) -> list[str]:
        """The absolute paths a word names (a variable's stays as written).

        An option's value counts (``--output=FILE``, ``-oFILE`` does not).
        """
        if w.dynamic:
            return [w.text]
        if w.text.startswith("-") and len(w.text) > 1:
            _, eq, value = w.text.partition("=")
            return [self._real(value)] if eq and value else []
        return [self._real(name) for name in self._glob(w)]

    def _real(self, name: str) -> str:
        return os.path.realpath(os.path.join(self.cwd, name))  # noqa: PTH118 -- pathlib costs the hook's cold start

    def parse(self) -> list[Command]:
        cmds = self.command_list("")
        self._read_heredocs()
        return cmds


def _reads_code(args: list[_Word]) -> bool:
    """An interpreter with these arguments reads its program from stdin."""
    for w in args:
        t = w.text
        if t.startswith("--"):
            if t.partition("=")[0] in ("--eval", "--print", "--command"):
                return False
        elif t.startswith("-") and len(t) > 1:
            if t[-1] in "ceEmrp":
                return False
        else:
            return t == "-" or w.dynamic
    return True


def _interpreter(program: str) -> bool:
    return program in _SHELLS or bool(
        re.match(r"^(python[0-9.]*|perl|ruby|node|php|lua|sudo)$", program)
    )


def _hosts(argv: list[str]) -> list[str]:
    hosts: list[str] = []
    for word in argv[1:]:
        for url in _URL.findall(word):
            try:
                host = urllib.parse.urlsplit(url).hostname
            except ValueError:
                host = "?"
            hosts.append(host or "?")
        scp = _SCP.match(word)
        if scp and "://" not in word:
            hosts.append(scp.group(1).lower())
    return hosts


def parse(command: str, cwd: str, home: str) -> Parsed:
    """Read ``command`` as Bash would, from the directory ``cwd``.

    Never raises: whatever it cannot read makes the result ``opaque``.
    """
    if len(command) > MAX_LINE:
        return Parsed([], opaque=True, why=f"a line longer than {MAX_LINE} characters")
    parser = _Parser(command, cwd, home)
    try:
        commands = parser.parse()
    except (RecursionError, ValueError, OSError):
        return Parsed([], opaque=True, why="a line this reader cannot follow")
    return Parsed(commands, opaque=bool(parser.opaque), why=parser.opaque)
