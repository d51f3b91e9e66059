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
it cannot know, an ``exec`` that redirects the input of what follows); the
example manifest asks a human about those. This module knows nothing about
rules, manifests or the log: text and a directory in, data out. It reads
characters into lists, pipelines, words and here-documents; what each simple
command means (wrappers, strings run as commands, paths, hosts) is
``_shell_commands``. Both import the standard library only (the hook's cold start).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

from enclosure.integrations._shell_commands import (
    CLOSERS,
    Command,
    Commands,
    Word,
    fed_by,
    is_shell,
)

__all__ = ["MAX_LINE", "Command", "Parsed", "parse"]

_META = frozenset(" \t\n;&|()<>")
_BRACES = re.compile(r"\{[^{}\s]*(,|\.\.)[^{}\s]*\}")
_NAMED_FD = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}(?=[<>])")
"""``{fd}>file``: Bash opens a descriptor and names it; no word of the command."""
_MAX_DEPTH = 8
MAX_LINE = 64 * 1024
"""Longer lines are not read (opaque): reading one costs time the hook has not."""


@dataclass(slots=True)
class Parsed:
    """A whole command line: its simple commands, and whether it hid anything."""

    commands: list[Command]
    opaque: bool
    why: str = ""
    """What made it opaque (for the reason a human reads)."""


class _Parser(Commands):
    """The reader: characters into lists, pipelines, words and here-documents."""

    def __init__(self, text: str, cwd: str, home: str, depth: int = 0) -> None:
        self.s = text
        self.i = 0
        self.cwd = cwd
        self.cwd_linked = False
        self.compound = 0
        self.list_pos = 0
        self.list_or = False
        self.cd_unsure = self.cd_pending = False
        self.home = home
        self.depth = depth
        self.heredocs: list[tuple[str, bool, bool, list[Command]]] = []
        self.opaque = ""
        self.ends: list[str] = []  # the closers of the lists being read
        self.linked = False  # a symlink was made earlier on this line
        self.code_readers = 0  # shells and interpreters reading code from stdin
        self.inputs = 0  # input redirections read so far
        self.globs = 0  # globs expanded so far (each lists a directory)
        self.loops = 0  # loops whose body is being read
        self.writes: dict[str, list[Command]] = {}  # files written -> by whom
        self.outputs: list[str] = []  # output redirection targets, resolved
        self.input_from: list[tuple[str, bool]] = []  # input targets; substituted?
        self.exec_fed: list[str] = []  # what an ``exec < SOURCE`` feeds from here on

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
        # Pipeline stages and ``&`` lists run in subshells: a ``cd`` there ends there.
        list_cwd = pipe_cwd = self.cwd
        piped = False
        pos, ors = 0, False  # commands so far in this and-or list; a || among them
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
                list_cwd = pipe_cwd = self.cwd
                piped = False
                pos, ors = 0, False
                self.cd_pending = self.cd_pending or self.cd_unsure
                continue
            if c == ";" and self.peek(1) == ";":
                self.mark("case")
                self.i += 2
                continue
            if c in ";&":
                if c == "&" and self.peek(1) != "&":
                    self.cwd = list_cwd  # ``cd x &`` runs in the background
                self.i += 2 if self.peek(1) == c else 1
                feeding, last = [], []
                if self.s[self.i - 2 : self.i] != "&&":
                    list_cwd = self.cwd
                    pos, ors = 0, False
                    self.cd_pending = self.cd_pending or self.cd_unsure
                pipe_cwd = self.cwd
                piped = False
                continue
            if c == "|":
                self.i += 1
                if self.peek() == "|":
                    self.i += 1
                    feeding, last = [], []
                    pipe_cwd = self.cwd
                    piped = False
                    ors = True
                    self.cd_pending = self.cd_pending or self.cd_unsure
                else:
                    if self.peek() == "&":
                        self.i += 1
                    feeding = feeding + last
                    self.cwd = pipe_cwd
                    piped = True
                continue
            if c == ")":
                self.mark("unbalanced ')'")
                self.i += 1
                continue
            at = self.i
            pending = self.cd_pending
            self.list_pos, self.list_or = pos, ors
            stage = self.stage()
            pos += 1
            if self.i == at:  # a closer of an outer list, here: never loop on it
                self.mark(f"an unexpected {c!r}")
                self.i += 1
            if pending and self.cd_pending and any(cmd.program for cmd in stage):
                self.mark("a cd that may or may not have run")
            for cmd in stage:
                fed = feeding + self.exec_fed + cmd.sources
                cmd.sources = list(dict.fromkeys(fed)) if self.exec_fed else fed
                if cmd.reads_code and feeding:
                    self.mark("a program that runs its input as code is fed by a pipe")
            out += stage
            last = fed_by(stage)
            if piped:
                self.cwd = pipe_cwd
        if end:
            self.cwd = saved_cwd  # a subshell's or group's cd ends with it
        return out

    def _word_ends(self, n: int) -> bool:
        return self.peek(n) in _META or self.peek(n) == ""

    def stage(self) -> list[Command]:
        """One pipeline stage: a subshell, a group or a simple command."""
        c = self.peek()
        if c == "(" and self.peek(1) == "(":
            start = self.i
            self._skip_balanced()  # (( arithmetic ))
            self._arithmetic(self.s[start : self.i])
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
        words: list[Word] = []
        paths: list[str] = []
        strings: list[Word] = []
        inputs = self.inputs
        outputs = len(self.outputs)
        while True:
            self.blanks()
            if not self._redirection(words, paths, strings):
                break
        self.record_writes(self.outputs[outputs:], cmds)
        if strings:
            self.mark("a here-string fed to a group")
        if self.inputs > inputs and any(c.reads_code for c in cmds):
            self.mark("a program that runs its input as code is redirected (a group)")
        substituted = fed_by([c for w in words for c in w.inner])
        for cmd in cmds:
            cmd.paths += paths
            cmd.sources += substituted

    def simple(self) -> list[Command]:
        words: list[Word] = []
        redirected: list[str] = []  # redirection targets, resolved
        strings: list[Word] = []  # here-strings (<<< WORD)
        heredoc_at = len(self.heredocs)
        inputs = self.inputs
        outputs = len(self.outputs)
        input_at = len(self.input_from)
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
        closes = bool(words) and not words[0].quoted and words[0].text in CLOSERS
        if closes and self.inputs > inputs and self.code_readers:
            # ``done < <(curl ...)``: the loop's shell reads what is redirected
            self.mark("a program that runs its input as code is redirected (a loop)")
        made = self._finish(words, redirected)
        self.record_writes(self.outputs[outputs:], made)
        fed = self.input_from[input_at:]
        if self.inputs > inputs and any(
            c.program == "exec" and not c.argv[1:] for c in made
        ):
            self._exec_input(made, fed, heredoc=len(self.heredocs) > heredoc_at)
        made = self._code_input(made, fed, strings)
        for at in range(heredoc_at, len(self.heredocs)):
            delim, expands, strip_tabs, _ = self.heredocs[at]
            self.heredocs[at] = (delim, expands, strip_tabs, made)
        return made

    def _code_input(
        self, made: list[Command], fed: list[tuple[str, bool]], strings: list[Word]
    ) -> list[Command]:
        """Mark input a code reader takes from a substitution or a here-string.

        ``sqlite3 db < <(curl ...)``, ``psql <<< 'q'``; a shell's static
        here-string is read as a line of its own. SQL is never read as safe: a
        quoted name, a comment, a variable or SQL built at run time runs what no
        pattern finds (a review's finds: ``"edit"('', 'id')``, psql's out to a pipe).
        """
        readers = [c for c in made if c.reads_code]
        if readers and any(sub for _, sub in fed):
            self.mark("a program that runs its input reads a process substitution")
        for cmd in readers if strings else []:
            for text in strings:
                if not text.dynamic and is_shell(cmd.program):
                    made = made + self._sub_parse(text.text)
                else:
                    self.mark("a here-string fed to a program that runs its input")
        return made

    def _exec_input(
        self, made: list[Command], fed: list[tuple[str, bool]], *, heredoc: bool
    ) -> None:
        """``exec < SOURCE``: every later command reads SOURCE as its stdin.

        ``exec < <(curl ...); sh``: the shell after it runs the download, as
        ``curl ... | sh`` would (its sources say so); only ``/dev/null`` is harmless.
        """
        if heredoc or not fed or any(path != "/dev/null" for path, _ in fed):
            self.mark("exec redirects the input of every command after it")
            self.exec_fed += [
                s for c in made for s in c.sources if s not in self.exec_fed
            ]

    def _redirection(
        self, words: list[Word], paths: list[str], strings: list[Word]
    ) -> bool:
        """Read one redirection at the cursor, if there is one."""
        start = self.i
        j = self.i
        named = _NAMED_FD.match(self.s, j) if self.peek() == "{" else None
        j = named.end() if named else j
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
            self.heredocs.append((target.text, not target.quoted, op == "<<-", []))
            return True
        target = self.word()
        words.append(Word(inner=target.inner, feeds=target.feeds, dynamic=True))
        self._input_from(op, target)
        if op in (">&", "<&") and (target.text.isdigit() or target.text == "-"):
            return True
        if op == "<<<":
            strings.append(target)
            if not target.dynamic:  # ``read k <<< ~/.ssh/id``: a path, maybe
                paths.append(self._real(target.text))
            return True
        resolved = self._paths(target)
        paths += resolved
        if op[0] == ">" or op in ("&>", "&>>", "<>"):
            self.outputs += resolved
        return True

    def _input_from(self, op: str, target: Word) -> None:
        """Note where an input redirection reads (``<&-`` closes: as ``/dev/null``)."""
        if op in ("<", "<>", "<&", "<<<"):
            closed = op == "<&" and target.text == "-"
            name = "/dev/null" if closed else self._real(target.text)
            self.input_from.append((name, bool(target.inner) or target.dynamic))

    def _read_heredocs(self) -> None:
        """Skip the bodies of the here-documents opened on the line just ended."""
        for delim, expands, strip_tabs, cmds in self.heredocs:
            body: list[str] = []
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                line = self.s[self.i : end]
                self.i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delim:
                    break
                body.append(line)
            else:
                self.mark("an unterminated here-document")
            text = "\n".join(body)
            if expands and ("$(" in text or "`" in text):
                self.mark("a substitution inside a here-document")
            if any(cmd.reads_code for cmd in cmds):
                self.mark("a here-document fed to a program that runs its input")
        self.heredocs = []

    def _backslash_in_backticks(self) -> None:
        """Bash undoes one level of backslashes in backticks before reading them."""
        close = self.s.find("`", self.i + 1)
        if "\\" in self.s[self.i + 1 : close if close >= 0 else len(self.s)]:
            self.mark("a backslash inside backticks")

    def _arithmetic(self, text: str) -> None:
        """Arithmetic is not read: one that could run or hide commands is opaque."""
        inner = text.removeprefix("$")[2:-2]  # within $(( )) or (( ))
        if any(c in inner for c in "$`'\"[\\#"):
            self.mark("substitutions, quotes or subscripts inside arithmetic")

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

    def word(self) -> Word:  # noqa: C901, PLR0912, PLR0915 -- one loop over the cases
        w = Word()
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
                self._backslash_in_backticks()
                self.i += 1
                w.inner += self._nested("`")
                self._add(w, "$(...)", quoted=False, dynamic=True)
            elif c == "~" and first:
                self.i += 1
                if self.peek() in ("+", "-") or self.peek().isdigit():
                    # ~+, ~-, ~N: the current, previous or a stacked directory
                    self.mark("~+, ~- or ~N (a directory the shell keeps)")
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

    def _add(self, w: Word, text: str, *, quoted: bool, dynamic: bool = False) -> None:
        w.text += text
        w.pattern += glob.escape(text) if quoted else text
        w.quoted = w.quoted or quoted
        w.dynamic = w.dynamic or dynamic

    def _double(self, w: Word) -> None:
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
                self._backslash_in_backticks()
                self.i += 1
                w.inner += self._nested("`")
                self._add(w, "$(...)", quoted=True, dynamic=True)
            else:
                self.i += 1
                self._add(w, c, quoted=True)

    def _ansi(self, w: Word) -> None:
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

    def _dollar(self, w: Word, *, quoted: bool) -> None:
        nxt = self.peek(1)
        if nxt == "(" and self.peek(2) == "(":
            start = self.i
            self.i += 1
            self._skip_balanced()
            self._arithmetic(self.s[start : self.i])
            self._add(w, self.s[start : self.i], quoted=quoted, dynamic=True)
        elif nxt == "(":
            self.i += 2
            w.inner += self._nested(")")
            self._add(w, "$(...)", quoted=quoted, dynamic=True)
        elif nxt == "[":
            # ``$[ ... ]``: old arithmetic whose blanks, ``;`` and ``#`` are its own
            self.mark("$[ ] arithmetic")
            self.i += 1
            self._add(w, "$", quoted=quoted, dynamic=True)
        elif nxt == "{":
            end = self.s.find("}", self.i)
            end = len(self.s) if end < 0 else end
            inner = self.s[self.i + 2 : end]
            if "$(" in inner or "`" in inner:
                self.mark("a substitution inside ${...}")
            if any(c in inner for c in "'\"\\{@") or "$" in inner:
                # Bash ends ${...} at the } its own quoting leaves: this reader
                # would end it elsewhere and read the rest of the line wrong.
                self.mark("quotes, nesting or a transformation inside ${...}")
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
                # Bash reads the body after the line's end, not after the ``)``:
                # what follows on this line would be taken for the body.
                self.mark("a here-document opened in a substitution closed on its line")
                self._read_heredocs()
            self.heredocs = outer_heredocs

    # --- a simple command -------------------------------------------------------------

    def _sub_parse(self, text: str) -> list[Command]:
        if self.depth >= _MAX_DEPTH:
            self.mark("shells nested too deeply")
            return []
        sub = _Parser(text, self.cwd, self.home, self.depth + 1)
        sub.writes = self.writes  # ``curl -o f URL; bash -c 'sh f'``
        cmds = sub.parse()
        if sub.opaque:
            self.mark(sub.opaque)
        return cmds

    def parse(self) -> list[Command]:
        cmds = self.command_list("")
        self._read_heredocs()
        return cmds


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
