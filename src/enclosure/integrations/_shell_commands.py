"""What a simple command of a Bash line means, for ``_shell``'s reader.

The reader (``_shell``) turns characters into words and lists; this module knows
programs: which wrap another command (``env``, ``sudo``, ``xargs``...), which run
a string as commands (``bash -c``, ``su -c``, ``watch``, ``trap``, ``find
-exec``), which read their program from stdin, which settings change what runs
(``PATH=``, ``git -c alias.*``), where a word points on disk (``cd``, symlinks,
globs) and which hosts a URL names. It knows nothing about rules or the log, and
imports the standard library only (the hook's cold start).
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import os
import re
import urllib.parse
from dataclasses import dataclass, field

from enclosure.integrations._shell_hosts import (
    HOST_VARIABLES,
    UNKNOWN,
    env_hosts,
    program_hosts,
)
from enclosure.integrations._shell_stdin import (
    STDIN_READERS,
    reads_commands,
    stream,
)

__all__ = ["CLOSERS", "Command", "Commands", "Word", "fed_by", "is_shell"]

_SHELL = re.compile(
    r"r?(sh|bash|zsh|dash|ksh|mksh|lksh|pdksh|ash|hush|fish|yash|posh|oksh|loksh"
    r"|rksh|gsh|bosh|jsh|osh|ysh|brush)(-?[0-9][0-9.]*)?(-static|\.static)?"
)
"""Shells by name: a restricted ``r`` one (``rbash``), a version (``ksh93``,
``bash5.2``), a static build (``bash-static``)."""
_OPENERS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!"})
CLOSERS = frozenset({"fi", "done", "esac", "}"})
_OPAQUE_WORDS = frozenset(
    {"eval", "case", "function", "select", "coproc", "alias", "let", "mapfile"}
    | {"readarray", "hash", "enable", "bind", "complete", "compgen", "fc", "shopt"}
    | {"mkfifo", "mknod"}
)
"""Builtins that run text as code or change what a name runs: quoted or not; and
named pipes, through which a command writes another's stdin from anywhere on the
line (``mkfifo p; sh < p & curl ... > p``)."""
_DEFERRED = frozenset({"at", "batch", "crontab"})
"""Programs that run commands they read later, from stdin or a file."""
_EDITOR_RUNS = re.compile(r"-c|--cmd|-[sS]|\+(?!\d*$)")
_EMACS_RUNS = re.compile(r"--?(eval|load|funcall|script)|-[lfe]")
_SSH_RUNS = re.compile(
    r"(?i)(-o)?\s*(proxycommand|localcommand|permitlocalcommand|knownhostscommand"
    r"|match)|-F|-S"
)
_RUNNING_OPTIONS = {
    "rg": re.compile(r"--pre(=|$)"),
    "sort": re.compile(r"--co"),
    "tar": re.compile(r"--(to-c|use|checkpoint-a|info|new-v|rsh|rmt)|-[A-Za-z]*[IF]"),
    "zip": re.compile(r"-TT|--unzip-command"),
    "less": re.compile(r"\+.*[!|]"),
    "man": re.compile(r"-[A-Za-z]*[PH]|--pa|--ht"),
    "emacs": _EMACS_RUNS,
    "emacs-nox": _EMACS_RUNS,
    "emacsclient": _EMACS_RUNS,
    "gdb": re.compile(r"--?(i?ex|i?x|(init-)?(eval-)?command)(=|$)"),
    "lldb": re.compile(
        r"(?is)\s*(pla\w*\s+sh|scr|sc\b|com\w*\s+(scr|reg|al)|_regexp|!|shell)"
    ),
    "dc": re.compile(r"(?s).*!"),
    "wget": re.compile(r"--use-a"),
    "rpm": re.compile(r"-E|--eval"),
    "sqlite3": re.compile(
        r"(?ims).*(^\s*\.(?!(tables|schema|headers?|mode|width|ind(ex|ic)es|quit|exit"
        r"|timer|nullvalue|separator|print|show|help|databases|changes|eqp|explain"
        r"|bail|echo|stats|dump|fullschema|dbinfo|lint|columns|maxrows|rows|timeout)\b)"
        r"[\"'A-Za-z]|\b(edit|load_extension|writefile|readfile|fsdir|fts3_tokenizer|zipfile)\b)"
        r"|-cmd|-init"
    ),
    "psql": re.compile(
        r"(?is).*(\\(?!(d[a-zA-Z+]*|l\+?|x|timing|echo|qecho|q|conninfo|encoding"
        r"|pset|h|\?)(\s|$))|\bprogram\b|\bdo\s+\$|\b(execute|prepare)\b)"
    ),
    "mysql": re.compile(
        r"(?is).*(\\|\bsystem\b|\bpager\b|--defaults-|--init-command|\b(source"
        r"|prepare|execute|outfile|dumpfile|load_file|infile|tee)\b)"
    ),
    "go": re.compile(r"--?(toolexec|exec|vettool)(=|$)|.*-extld"),
    "sed": re.compile(
        r"(?:-[a-zA-Z]*e|.*[\n;{}!/\d$,=])?\s*e(?:\s|;|$)"
        r"|(?:-[a-zA-Z]*e|--expression=)?s(.).*\1.*\1\w*e\w*$",
        re.DOTALL,
    ),
}
"""Options with which a program runs a command line of its own (``tar -I CMD``,
``less +!CMD``, ``vim -c '!CMD'``, ``ssh -o ProxyCommand=CMD``, sed's ``e``);
long options match by their shortest unambiguous prefix, as GNU tools take them."""
_EDITORS = frozenset(
    {"vi", "vim", "nvim", "view", "ex", "vimdiff", "gvim", "rvim", "rview", "evim"}
    | {"vimx", "vim.basic", "vim.tiny", "vim.nox", "nvi", "editor", "sensible-editor"}
)
_RUNNING_OPTIONS |= dict.fromkeys(_EDITORS, _EDITOR_RUNS)
_RUNNING_OPTIONS |= dict.fromkeys(("ssh", "scp", "sftp", "sshfs"), _SSH_RUNS)
_RUNNING_OPTIONS["mariadb"] = _RUNNING_OPTIONS["mysql"]
_RUNNING_OPTIONS |= dict.fromkeys(("sqlite", "duckdb"), _RUNNING_OPTIONS["sqlite3"])
_GO_RUNS = re.compile(r"(CC|CXX|FC|AR|PKG_CONFIG|GOTOOLCHAIN|GOROOT|GOEXPERIMENT)=")
"""``go env -w`` settings naming a program go runs (beside ``_RISKY_NAME``)."""
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`|;]+")
_SCP = re.compile(
    r"^(?:([^@/:\s]+)@)?(\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]|[A-Za-z0-9][\w.-]*):"
)
"""``[user@]host:path`` (scp, rsync, git): a name, an IPv4 or a bracketed IPv6."""
_NAMED_HOST = re.compile(r"[\w.-]*\.[A-Za-z]{2,}$|\d{1,3}(\.\d{1,3}){3}$|\[")
_REMOTE_COPY = frozenset({"scp", "rsync", "sftp", "sshfs"})
_CURL_VALUED = (
    "ACEFHKPQTUXYbcdeDmortuwxyz",
    frozenset(
        {"output", "output-dir", "data", "data-ascii", "data-binary", "data-raw"}
        | {"data-urlencode", "form", "form-string", "header", "proxy-header", "json"}
        | {"user-agent", "user", "request", "referer", "range", "upload-file"}
        | {"cookie", "cookie-jar", "cert", "key", "cacert", "capath", "cert-type"}
        | {"key-type", "max-time", "connect-timeout", "retry", "retry-delay"}
        | {"retry-max-time", "limit-rate", "max-filesize", "write-out", "stderr"}
        | {"dump-header", "trace", "trace-ascii", "netrc-file", "oauth2-bearer"}
        | {"interface", "speed-limit", "speed-time", "continue-at", "time-cond"}
        | {"ciphers", "pinnedpubkey", "aws-sigv4", "variable", "proto", "url-query"}
    ),
)
_WGET_VALUED = (
    "OoaPtTwUeiBQlARDIX",
    frozenset(
        {"output-document", "output-file", "append-output", "directory-prefix"}
        | {"tries", "timeout", "wait", "user-agent", "header", "input-file", "base"}
        | {"user", "password", "http-user", "http-password", "post-data"}
        | {"post-file", "body-data", "body-file", "method", "load-cookies"}
        | {"save-cookies", "ca-certificate", "certificate", "private-key"}
        | {"limit-rate", "level", "accept", "reject", "domains", "referer", "quota"}
        | {"exclude-directories", "include-directories", "execute"}
    ),
)
_FETCH_VALUED = {"curl": _CURL_VALUED, "wget": _WGET_VALUED, "wget2": _WGET_VALUED}
"""The options of ``curl`` and ``wget`` that take a value (short, long): every
other operand is a URL, with a scheme or without."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_MAX_GLOB_PARTS = 2  # wildcard components expanded in one word
_MAX_MATCHES = 512
_MAX_GLOBS = 16  # globs expanded per line: each one lists a directory
_INTERPRETER = re.compile(
    r"^(python[0-9.]*[dmt]?|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node(js)?|deno|bun|php[0-9.]*"
    r"|lua(jit)?[0-9.]*|tclsh[0-9.]*|wish|expect|[gmn]?awk|busybox|pwsh|osascript|sudo|doas"
    r"|t?csh|elvish|nu|xonsh|R|Rscript|julia|irb|[ib]python[0-9.]*|ptpython[0-9.]*"
    r"|guile[0-9.]*|g?m4|mongosh|gnuplot|powershell|jshell|ghci|sbcl|clisp|ocaml"
    r"|erl|iex|groovysh|gforth|qjs)$"
)
"""Programs that run code they read (a versioned or distro name too)."""
_LAUNCHERS = frozenset(
    {"setarch", "prlimit", "unshare", "nsenter", "sg", "script", "firejail", "proot"}
    | {"runuser", "systemd-run", "npm", "npx", "pnpm", "yarn", "bunx", "pipx", "uvx"}
    | {"docker", "podman", "kubectl", "parallel", "flock", "watch", "make"}
    | {"fd", "fdfind", "entr", "fakeroot", "faketime", "xvfb-run", "valgrind"}
    | {"proxychains", "proxychains4", "torsocks", "ssh-agent", "dbus-run-session"}
    | {"uv", "poetry", "pdm", "hatch", "pipenv", "conda", "mamba", "pixi", "bundle"}
    | {"direnv", "nix", "nix-shell", "devbox", "mise", "asdf", "pyenv", "rbenv"}
    | {"tmux", "screen", "xterm", "hyperfine", "dbus-launch", "linux32", "linux64"}
    | {"i386", "x86_64", "eatmydata", "fakechroot", "chronic", "ifne", "numactl"}
    | {"setpriv", "capsh", "perf", "rlwrap", "tini", "dumb-init", "cpulimit"}
    | {"trickle", "cgexec", "systemd-inhibit", "nocache", "gdb", "expect", "sem"}
    | {"csh", "tcsh", "elvish", "nu", "xonsh", "nerdctl", "oc", "lxc", "incus"}
    | {"crictl", "ip", "lxc-attach", "machinectl", "systemd-nspawn", "distrobox"}
    | {"toolbox", "vagrant", "multipass"}
)
"""Programs that may run a command named among their words, as no wrapper here is
read: one that names a program this reader watches (``tmux new 'rm -rf x'`` too)
is opaque."""
_WATCHED = frozenset(
    {"rm", "rmdir", "unlink", "shred", "find", "mv", "dd", "truncate", "ln"}
    | {"curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "rsync"}
    | {"enclosure", "eval", "source", "git", "sudo", "su", "xargs", "env"}
)
_RUNTIME = re.compile(
    r"\$\(\.\.\.\)|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]|\$\(\(.*?\)\)"
)
"""What a word holds that only exists at run time (as the reader writes it)."""

_EVALUATING_OPTIONS = {
    "printf": frozenset({"-v"}),
    "declare": frozenset({"-n"}),
    "typeset": frozenset({"-n"}),
    "local": frozenset({"-n"}),
    "read": frozenset({"-e"}),
    "readonly": frozenset(),
    "export": frozenset(),
}
"""Builtins whose option (or an array subscript in an argument) evaluates code."""

# Wrappers run the rest of their words as a command; each maps to its options
# that take a value (skipped with the option) and how many operands come before
# the command (``timeout DURATION``, ``chroot ROOT``: one).
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-a", "--argv0"}), 0),
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
    "strace": (frozenset({"-o", "-e", "-p", "-s", "-P", "-E", "-u", "-b", "-I"}), 0),
    "ld.so": (
        frozenset({"--library-path", "--preload", "--audit", "--argv0"})
        | frozenset({"--inhibit-rpath", "--glibc-hwcaps-mask"}),
        0,
    ),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s", "-l", "-u", "-n", "-A", "-D"}), 0),
}
_LOADER = re.compile(r"ld(-linux[\w-]*)?\.so(\.\d+)?$")
"""The dynamic loader, which runs the program it is given (``ld.so /bin/rm``)."""
_GIT_VALUED = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
_GIT_PLACES = ("-C", "--git-dir", "--work-tree")
# git settings that run nothing (``alias.*``, ``core.pager``... run commands)
_GIT_SAFE_KEY = (
    r"(?i)(user\.(name|email)|color\.[\w.]+|advice\.\w+|init\.defaultbranch"
    r"|commit\.gpgsign|core\.(quotepath|autocrlf|filemode|ignorecase)"
    r"|safe\.directory|log\.\w+|pull\.(rebase|ff)|push\.(default|autosetupremote)"
    r"|fetch\.prune|merge\.conflictstyle|rebase\.(autostash|autosquash|updaterefs)"
    r"|rerere\.enabled|diff\.(algorithm|renames|colormoved)|status\.\w+"
    r"|(tag|branch)\.sort|column\.ui)"
)
_GIT_SAFE_SETTING = re.compile(_GIT_SAFE_KEY + "=")
_GIT_SAFE_NAME = re.compile(_GIT_SAFE_KEY + "$")
_GIT_COMMANDS = frozenset(
    {"add", "am", "annotate", "apply", "archive", "bisect", "blame", "branch"}
    | {"bundle", "cat-file", "check-attr", "check-ignore", "check-mailmap"}
    | {"check-ref-format", "checkout", "checkout-index", "cherry", "cherry-pick"}
    | {"clean", "clone", "column", "commit", "commit-graph", "commit-tree", "config"}
    | {"count-objects", "describe", "diff", "diff-files", "diff-index", "diff-tree"}
    | {"difftool", "fast-export", "fast-import", "fetch", "fetch-pack"}
    | {"fmt-merge-msg", "for-each-ref", "format-patch", "fsck", "gc", "grep", "help"}
    | {"hash-object", "http-push", "index-pack", "init", "interpret-trailers", "log"}
    | {"ls-files", "ls-remote", "ls-tree", "mailinfo", "mailsplit", "maintenance"}
    | {"merge", "merge-base", "merge-file", "merge-tree", "mergetool", "mktag"}
    | {"mktree", "multi-pack-index", "mv", "name-rev", "notes", "pack-objects"}
    | {"pack-refs", "prune", "prune-packed", "pull", "push", "range-diff", "read-tree"}
    | {"rebase", "reflog", "remote", "repack", "replace", "request-pull", "rerere"}
    | {"reset", "restore", "rev-list", "rev-parse", "revert", "rm", "send-pack"}
    | {"shortlog", "show", "show-branch", "show-ref", "sparse-checkout", "stage"}
    | {"stash", "status", "stripspace", "submodule", "subtree", "switch", "lfs"}
    | {"symbolic-ref", "tag", "unpack-objects", "update-index", "update-ref", "var"}
    | {"verify-commit", "verify-pack", "verify-tag", "version", "whatchanged"}
    | {"worktree", "write-tree", "replay", "bugreport", "diagnose"}
)
"""git's own commands (and ``subtree``, ``lfs``): no alias can take their names.
Any other name may be an alias (``alias.x = !sh -c ...``, ``alias.x = push``) or a
``git-x`` program; left out too: those that run a configured command or print
credentials (``send-email``, ``credential``, ``for-each-repo``, ``instaweb``...)."""
_GIT_UPLOAD = re.compile(r"--u(p|=|$)")
_GIT_RUNS = {
    "clone": re.compile(r"-u|--u(p|=|$)|--te"),
    "init": re.compile(r"--te"),
    "fetch": _GIT_UPLOAD,
    "pull": _GIT_UPLOAD,
    "ls-remote": _GIT_UPLOAD,
    "archive": re.compile(r"--e(x|=|$)|--rem"),
    "push": re.compile(r"--rece|--e(x|=|$)"),
    "send-pack": re.compile(r"--rece|--e(x|=|$)"),
    "rebase": re.compile(r"-[a-zA-Z]*x|--ex"),
    "difftool": re.compile(r"-[a-zA-Z]*x|--e(x|=|$)"),
    "grep": re.compile(r"-O|--op"),
    "submodule": re.compile(r"foreach$"),
    "bisect": re.compile(r"run$"),
    "filter-branch": re.compile(r""),
}
"""Words with which a git command runs a command line of its own (matched at the
start of any of its words: ``--upload-pack=...``, ``-x CMD``, ``foreach CMD``; a
long option by its shortest prefix, as git takes ``--upl=...`` for it)."""
_GIT_CONFIG_VALUED = frozenset({"-f", "--file", "--blob", "--type", "--default"})
_GIT_CONFIG_READS = frozenset(
    {"get", "list", "-l", "--list", "--get", "--get-all", "--get-regexp"}
    | {"--get-urlmatch", "--get-color", "--get-colorbool"}
)
# Variables that change what a command runs (a pager, an editor, a loader, PATH).
_RISKY_NAME = re.compile(
    r"(?i)(LD_\w+|DYLD_\w+|BASH_ENV|ENV|PROMPT_COMMAND|CDPATH|PATH|IFS|BASH_FUNC\w*"
    r"|SHELLOPTS|PS4|GIT_CONFIG\w*|PYTHONSTARTUP|PYTHONPATH|PERL5OPT|NODE_OPTIONS"
    r"|RUBYOPT|\w*(COMMAND|EDITOR|VISUAL|PAGER|SHELL|ASKPASS|DIFF|PROXY|EXEC_PATH"
    r"|HOOKSPATH|TEXTCONV|PROGRAM|_CMD|_OPTIONS|OPT)|LESS\w*|GLOBIGNORE|GIT_SSH|CURL_HOME|WGETRC"
    r"|GIT_TEMPLATE_DIR|GIT_ALLOW_PROTOCOL|RSYNC_RSH|HOME|GOFLAGS|GOENV|PSQLRC)\+?="
)
_WRAPPER_FILES = {
    "xargs": frozenset({"-a", "--arg-file"}),
    "time": frozenset({"-o", "--output"}),
    "strace": frozenset({"-o"}),
    "ltrace": frozenset({"-o"}),
}
"""Wrapper options whose value is a file read or written (a path rules see)."""
_XARGS_HARMLESS = frozenset(
    {"xargs", "echo", "printf", "true", "false", "basename", "dirname", "kill"}
    | {"sleep"}
)
"""Programs ``xargs`` may run with words read from its input: none of them opens
a file or runs a command a word names."""
_INTO_DIR = {
    "cp": frozenset({"-S", "--suffix"}),
    "mv": frozenset({"-S", "--suffix"}),
    "ln": frozenset({"-S", "--suffix"}),
    "install": frozenset({"-m", "-o", "-g", "-S", "--mode", "--owner", "--group"}),
}
"""Programs that write their sources' names into a directory (with their options
that take a value)."""
_COPIERS = frozenset({"tee", "cp", "mv", "install", "dd", "sponge", "ln", "rsync"})
"""Programs that write a file they name with what they read."""
_SHELL_VALUED = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})
_C_RUNNERS = frozenset({"su", "runuser", "script", "sg"})
_DECLARERS = frozenset({"export", "declare", "typeset", "readonly", "local"})
_CHDIR = frozenset({"-C", "--chdir", "-D"})
_COMMAND_STRING = re.compile(r"[\s;&|()`'\"]+")
_OLD_TAR_RUNS = re.compile(r"[A-Za-z]*[IF][A-Za-z]*")
"""``tar``'s first word in the old style (``tar xIf CMD a.tar``)."""
_JOINED = re.compile(r"(?<=[:,=])/[^:,=]*|^/[^:,=]*(?=[:,])")
"""Absolute paths joined to others in one word (``/a:/b``, ``src=/a,dst=/b``)."""
_ASSIGNING = frozenset({"env", "sudo", "time"})
"""Wrappers after which ``NAME=value`` words set the command's environment."""
_SUBSCRIPT_RUNS = re.compile(r"\[[^\]]*(\$\((?!\.\.\.\))|\$\{|`)")
"""An array subscript holding a substitution, as text: Bash evaluates it when the
word is used as a name (``unset``, ``test -v``, ``$((x))``, ``${!x}``)."""


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
    """Programs whose output it reads: earlier stages of its pipeline, the
    commands substituted into its words or redirections, and those that wrote a
    file it names earlier on the line (``curl -o f URL; sh f``: ``curl``)."""
    reads_code: bool = False
    """A program that runs what it reads on stdin (a shell or interpreter given no
    script, ``sqlite3 DB``, ``psql``, ``ed``...)."""
    repeats: bool = False
    """It may run more than once in this line: in a loop, or once per input of
    ``xargs``, ``find -exec``, ``watch`` or ``trap`` (a rate limit counts a line
    once)."""
    written: bool = False
    """Its program is a file an earlier command on this line wrote (``wget -O x URL;
    ./x``); the programs that wrote it are in ``sources``."""

    def as_json(self) -> dict[str, object]:
        """The plain data a CEL condition reads."""
        return {
            "program": self.program,
            "argv": list(self.argv),
            "paths": list(self.paths),
            "hosts": list(self.hosts),
            "sources": list(self.sources),
            "repeats": self.repeats,
            "written": self.written,
            "reads_code": self.reads_code,
        }


@dataclass(slots=True)
class Word:
    """One word as read: its text, and how it was written."""

    text: str = ""
    pattern: str = ""  # the glob pattern: quoted parts escaped
    quoted: bool = False
    dynamic: bool = False  # holds a variable or a substitution
    globbed: bool = False
    unquoted: str = ""  # its unquoted characters, for brace expansion
    inner: list[Command] = field(default_factory=list)  # substituted commands
    feeds: list[Command] = field(default_factory=list)  # inside >(...)


class Commands:
    """The command half of the reader: what each simple command means.

    Mixed into the reader, whose state it shares: the working directory (``cd``
    moves it), the home, whether a symlink was made earlier on the line, how
    many code readers were seen, the loops being read and the files written so
    far (with the programs that wrote them); ``mark`` makes the line opaque and
    ``_sub_parse`` reads a string as a line of its own.
    """

    cwd: str
    cwd_linked: bool  # a cd on this line went through a symlink
    compound: int  # if/while/until/for bodies being read
    list_pos: int  # commands before this one in its and-or list
    list_or: bool  # its and-or list has a || before it
    cd_unsure: bool  # a cd that may not have run (after || or &&, in a body)
    cd_pending: bool  # ...and commands after it may run either way
    home: str
    linked: bool
    code_readers: int
    globs: int
    loops: int  # loops whose body is being read
    writes: dict[str, list[Command]]  # a file written on this line -> its writers

    def mark(self, why: str) -> None:
        """Make the line opaque, saying why."""
        raise NotImplementedError

    def _sub_parse(self, text: str) -> list[Command]:
        raise NotImplementedError

    def _glob_writes(self, pattern: str) -> list[str]:
        """The files written earlier on this line that a glob would name at run time.

        They do not exist while the line is read (``curl -o y URL; sh y*``).
        """
        if not self.writes or not glob.has_magic(pattern):
            return []
        rooted = os.path.normpath(os.path.join(self.cwd, pattern))  # noqa: PTH118 -- pathlib costs the hook's cold start
        return [k for k in self.writes if fnmatch.fnmatchcase(k, rooted)]

    def _finish(self, words: list[Word], redirected: list[str]) -> list[Command]:
        inner = [cmd for w in words for cmd in w.inner]
        feeds = [cmd for w in words for cmd in w.feeds]
        assigned: list[str] = []
        real = [w for w in words if w.text or w.quoted]
        given = real
        if any("[" in w.text and _SUBSCRIPT_RUNS.search(w.text) for w in real):
            self.mark("an array subscript that runs a command")
        real, listed = self._keywords(real)
        while (
            real
            and _NAME.match(real[0].unquoted)
            and real[0].text.startswith(
                real[0].unquoted[: real[0].unquoted.index("=") + 1]
            )
        ):
            assigned.append(real.pop(0).text)  # NAME=value before the command
            self._assigns(assigned[-1])
        _repeated(inner if self.loops else [])  # while [ "$(git push)" ]; do
        made: list[Command] = []
        if real:
            made = self._command(real, redirected, fed_by(inner))
            if made and assigned:  # PIP_INDEX_URL=https://host/ pip install x
                made[0].hosts += _url_hosts(assigned) + env_hosts(assigned)
        elif redirected:
            made = [Command("", [], paths=redirected)]
        if real and real[0].text in _DECLARERS and not real[0].quoted:
            for w in real[1:]:
                self._assigns(w.text)
            assigned += [w.text for w in real[1:] if _NAME.match(w.text)]
        # what a variable is set to, or a for loop runs over (``x=~/.ssh/k; cat $x``)
        values = [p for w in listed for p in self._paths(w)]
        values += [p for text in assigned for p in self._value_paths(text)]
        hosts = env_hosts(assigned) if assigned and not real else []  # GH_HOST=H; gh
        hosts += [UNKNOWN] if _sets_host_variable(given) else []
        if values or hosts:
            made.append(Command("", [], paths=values, hosts=hosts))
        for cmd in feeds:
            cmd.sources += [c.program for c in made]
        return inner + made + feeds

    def _keywords(self, real: list[Word]) -> tuple[list[Word], list[Word]]:
        """The words after the reserved words that open or close a compound command.

        And, apart, the words a ``for`` loop runs over. Counts the loops whose body
        is being read (``while``, ``until``, ``for``) and the bodies that may not
        run (``if`` too).
        """
        while real and not real[0].quoted and real[0].text in _OPENERS:
            opener = real.pop(0).text
            self.loops += opener in ("while", "until")
            self.compound += opener in ("if", "while", "until")
        if real and not real[0].quoted and real[0].text in CLOSERS:
            closer = real.pop(0).text
            self.loops = max(0, self.loops - (closer == "done"))
            self.compound = max(0, self.compound - (closer in ("fi", "done")))
        if real and not real[0].quoted and real[0].text in ("for", "in"):
            self.loops += real[0].text == "for"
            self.compound += real[0].text == "for"
            at = next((i for i, w in enumerate(real) if w.text == "in"), len(real))
            return [], real[at + 1 :]
        return real, []

    def _value_paths(self, assignment: str) -> list[str]:
        """The paths a ``NAME=value`` sets, ``~`` expanded as Bash does.

        After ``=`` and each ``:``; a value built at run time is not read.
        """
        value = assignment.partition("=")[2]
        for name, known in (("HOME", self.home), ("PWD", self.cwd)):
            value = value.replace("${" + name + "}", known).replace("$" + name, known)
        if not value or "$" in value or "`" in value:
            return []
        paths: list[str] = []
        for part in value.split(":"):
            if part == "~" or part.startswith("~/"):
                part = self.home + part[1:]  # noqa: PLW2901 -- the part, expanded
            if part:
                paths.append(self._real(part))
        return paths

    def _command(
        self, words: list[Word], redirected: list[str], substituted: list[str]
    ) -> list[Command]:
        if self.linked:
            self.mark("a symlink made earlier on the same line")
        given = words
        words, via_xargs, files = self._strip_wrappers(words)
        if not words:
            return []
        # what env, sudo or time set (env PIP_INDEX_URL=https://host/, K=~/.ssh/k)
        set_by = [
            w.text for w in given[: len(given) - len(words)] if _NAME.match(w.text)
        ]
        set_urls = [text for text in set_by if "://" in text]
        head = words[0]
        if head.dynamic or head.globbed:
            self.mark("a variable, substitution or glob as the program")
        program = os.path.basename(head.text.rstrip("/")) or head.text  # noqa: PTH119 -- pathlib costs the hook's cold start
        self._evaluates(program, words[1:], via_xargs=via_xargs)
        argv = [program] + [w.text for w in words[1:]]
        operands = words[1:]
        if program.startswith("git-") and program[4:] in _GIT_COMMANDS:
            program, argv = "git", ["git", program[4:], *argv[1:]]  # git-push
            self._git_command(argv[1], argv[2:])
        elif program == "git":
            argv, operands = self._git(argv, operands)
        expanded: list[str] = []
        for w in operands:
            expanded += self._glob(w)
        paths = [p for w in operands for p in self._paths(w)] + redirected + files
        paths += self._into_dir(program, operands)
        cmd = Command(
            program=program,
            argv=[program, *expanded] if program != "git" else argv,
            paths=[*paths, "$(xargs)"] if via_xargs else paths,
            hosts=_hosts(argv)
            + _url_hosts(set_urls)
            + (env_hosts(set_by) if set_by else []),
            sources=list(substituted),
            repeats=via_xargs or self.loops > 0,
        )
        self._read_writes(cmd, head)
        self._effects(program, argv, operands)
        nested, cmd.reads_code = self._runs(program, words)
        self.code_readers += cmd.reads_code
        self._code_from(cmd, operands, substituted)
        if program == "find":
            nested += self._find_exec(words)
        for inner in nested:
            inner.repeats = inner.repeats or cmd.repeats
        self._record_writes(cmd)
        values = [p for text in set_by for p in self._value_paths(text)]
        return [cmd, *nested, *([Command("", [], paths=values)] if values else [])]

    def _code_from(
        self, cmd: Command, operands: list[Word], substituted: list[str]
    ) -> None:
        """Mark a code reader whose code another command writes."""
        if cmd.reads_code and substituted and _interpreter(cmd.program):
            # ``sh $(...)``: a script named at run time (``sqlite3 $(...)``: a file)
            self.mark("a shell or interpreter runs what another command writes")
        if cmd.reads_code and any(
            w.inner and w.text.startswith("/dev/fd/") for w in operands
        ):
            # ``sed -f <(curl ...)``, ``psql -f <(...)``: commands from a substitution
            self.mark("a program reads its commands from a process substitution")

    def _into_dir(self, program: str, operands: list[Word]) -> list[str]:
        """What ``cp a b DIR`` (``-t DIR``) writes: each source's name in DIR."""
        valued = _INTO_DIR.get(program)
        if valued is None:
            return []
        names: list[str] = []
        target = ""
        at = 0
        while at < len(operands):
            text = operands[at].text
            long_target = text.startswith("--ta")  # --target-directory[=DIR]
            if long_target or (text.startswith("-t") and text[1:2] != "-"):
                value = text.partition("=")[2] if long_target else text[2:]
                after = operands[at + 1].text if at + 1 < len(operands) else ""
                target = value or after
                at += 1 if value else 2
                continue
            if text.startswith("-") and text != "-":
                at += 2 if text in valued else 1
                continue
            names.append(text)
            at += 1
        if not target and len(names) > 1:
            target = names.pop()
        where = self._real(target) if target else ""
        if not where or not os.path.isdir(where):  # noqa: PTH112 -- pathlib costs the hook's cold start
            return []
        return [
            self._real(os.path.join(where, os.path.basename(n.rstrip("/"))))  # noqa: PTH118, PTH119 -- pathlib costs the hook's cold start
            for n in names
        ]

    def _read_writes(self, cmd: Command, head: Word) -> None:
        """Who wrote the files it names (and its program) earlier on this line."""
        if not self.writes:
            return
        writers = [w for p in cmd.paths for w in self.writes.get(p, ())]
        if "/" in head.text and not head.dynamic:
            names = self._glob_writes(head.pattern) if head.globbed else []
            ran = [
                w
                for n in [self._real(head.text), *names]
                for w in self.writes.get(n, [])
            ]
            cmd.written = bool(ran)
            writers += ran
        # what fed a writer is known by now (``curl URL | tee f; sh f``: curl)
        programs = [c.program for c in writers]
        programs += [s for c in writers for s in c.sources]
        cmd.sources += [p for p in dict.fromkeys(programs) if p not in cmd.sources]

    def _record_writes(self, cmd: Command) -> None:
        """The files a fetch or a copy may have written, for the commands after it.

        A command naming a host writes where it is told (``-o FILE``, ``-oFILE``,
        ``of=FILE``) or the last part of a URL's path, in the directory or in one
        it names (``wget -P``).
        """
        if not cmd.hosts and cmd.program not in _COPIERS:
            return
        places = list(cmd.paths)
        for w in cmd.argv[1:]:
            if w[:1] == "-" and w[1:2] not in ("-", ""):  # -oFILE, -sSLoFILE
                places += [self._real(w[at:]) for at in range(2, min(len(w), 7))]
            elif w.startswith("of="):
                places.append(self._real(w[3:]))
        for url in _URL.findall(" ".join(cmd.argv[1:])) if cmd.hosts else []:
            name = url.split("?")[0].split("#")[0].rstrip("/").rpartition("/")[2]
            if name and "://" not in name:
                dirs = [self.cwd, *cmd.paths]
                places += [self._real(os.path.join(d, name)) for d in dirs]  # noqa: PTH118 -- pathlib costs the hook's cold start
        self.record_writes(places, [cmd])

    def record_writes(self, places: list[str], writers: list[Command]) -> None:
        """Note that ``writers`` (and what feeds them) may have written ``places``."""
        for place in places:
            self.writes.setdefault(place, []).extend(writers)

    def _effects(self, program: str, argv: list[str], operands: list[Word]) -> None:
        """What a command changes for the ones after it: ``cd``, a new symlink."""
        if program == "popd" or (
            program == "pushd" and (not operands or operands[0].text[:1] in "+-")
        ):
            self.mark("the directory stack (pushd, popd)")
        elif program in ("cd", "pushd"):
            self._cd(operands)
        if program == "ln" and any(
            w.startswith("--sy") or (w[:1] == "-" and w[1:2] != "-" and "s" in w)
            for w in argv[1:]
        ):
            self.linked = True

    def _assigns(self, word: str) -> None:
        if _RISKY_NAME.match(word):
            self.mark(f"{word.partition('=')[0]} changes what a command runs")

    def _git(
        self, argv: list[str], operands: list[Word]
    ) -> tuple[list[str], list[Word]]:
        """``git``'s argv without its global options (``git -C . push`` → ``push``).

        The directories its options name stay among the operands (paths).
        """
        at = 1
        places: list[Word] = []  # -C DIR, --git-dir=DIR, --work-tree DIR
        while at < len(argv) and argv[at].startswith("-"):
            option = argv[at]
            if option == "-c" and at + 1 < len(argv):
                if not _GIT_SAFE_SETTING.match(argv[at + 1]):
                    self.mark("git -c with a setting that can run a command")
            elif option.startswith(("--exec-path", "--config-env")):
                self.mark(f"git {option.partition('=')[0]}")
            elif option.startswith(_GIT_PLACES):
                places += operands[at - 1 : at + (option in _GIT_PLACES)]
            at += 2 if option in _GIT_VALUED else 1
        if at < len(argv):
            self._git_command(argv[at], argv[at + 1 :])
        return ["git", *argv[at:]], operands[at - 1 :] + places

    def _git_command(self, name: str, rest: list[str]) -> None:
        """Mark a git command that may run a command line this reader never sees."""
        if name not in _GIT_COMMANDS:
            self.mark(f"git {name!r}: not one of git's own commands (maybe an alias)")
            return
        if any(w.startswith(("ext::", "fd::")) for w in rest):
            self.mark("git's ext:: transport runs a command")
        runs = _GIT_RUNS.get(name)
        if runs is not None and any(runs.match(w) for w in rest):
            self.mark(f"git {name} with an option that runs a command")
        if name == "clone":
            for at, w in enumerate(rest):
                value = rest[at + 1] if at + 1 < len(rest) else ""
                if w in ("-c", "--config") and not _GIT_SAFE_SETTING.match(value):
                    self.mark("git clone -c with a setting that can run a command")
                if w.startswith("--config=") and not _GIT_SAFE_SETTING.match(w[9:]):
                    self.mark("git clone -c with a setting that can run a command")
        if name == "config":
            self._git_config(rest)

    def _git_config(self, rest: list[str]) -> None:
        """``git config`` writing a setting that can run a command (``alias.*``)."""
        named: list[str] = []
        options: set[str] = set()
        at = 0
        while at < len(rest):
            w = rest[at]
            if w.startswith("-") and w != "-":
                options.add(w.partition("=")[0])
                at += 2 if w in _GIT_CONFIG_VALUED else 1
                continue
            named.append(w)
            at += 1
        verb = named[0] if named and named[0] in ("set", "get", "list") else ""
        if verb or (named and named[0] in ("edit", "rename-section", "unset")):
            verb = named.pop(0)
        if options & {"-e", "--edit", "--rename-section"} or verb in (
            "edit",
            "rename-section",
        ):
            self.mark("git config editing or renaming settings")
        reads = verb in ("get", "list") or bool(options & _GIT_CONFIG_READS)
        unsets = verb == "unset" or any(o.startswith("--unset") for o in options)
        writes = verb == "set" or len(named) > 1
        writes = writes or bool(options & {"--add", "--replace-all"})
        if (
            writes
            and not (reads or unsets)
            and named
            and not _GIT_SAFE_NAME.match(named[0])
        ):
            self.mark(f"git config {named[0]}: a setting that can run a command")

    def _wrapper_option(self, name: str, text: str, valued: frozenset[str]) -> None:
        """Mark a wrapper's option that runs a string or moves the command."""
        option = text.partition("=")[0]
        short = text.startswith("-") and not text.startswith("--")
        if name == "env" and (option == "--split-string" or (short and "S" in text)):
            self.mark("env -S")  # also --split-string=..., -S'...', -iS
        if short and len(text) > 2 and text[:2] in _CHDIR:  # noqa: PLR2004
            option = text[:2]  # -C/dir: the value attached
        if option in _CHDIR and option in valued | {"--chdir"}:
            self.mark(f"{name} {option} runs the command elsewhere")

    def _wrapper_file(self, name: str, words: list[Word], at: int) -> list[str]:
        """The file the wrapper option at ``at`` names (``xargs -a F``, ``-oF``)."""
        named = _WRAPPER_FILES.get(name, frozenset())
        text = words[at].text
        after = self._paths(words[at + 1]) if at + 1 < len(words) else []
        option, eq, value = text.partition("=")
        if option in named:
            return [self._real(value)] if eq else after
        if text.startswith("--"):
            return []
        for i, letter in enumerate(text[1:], 2):
            if f"-{letter}" in named:
                return [self._real(text[i:])] if text[i:] else after
        return []

    def _strip_wrappers(self, words: list[Word]) -> tuple[list[Word], bool, list[str]]:
        via_xargs = False
        files: list[str] = []
        while words:
            name = os.path.basename(words[0].text)  # noqa: PTH119 -- pathlib costs the hook's cold start
            name = "ld.so" if _LOADER.match(name) else name
            if words[0].dynamic or name not in _WRAPPERS:
                return words, via_xargs, files
            via_xargs = via_xargs or name == "xargs"
            valued, operands = _WRAPPERS[name]
            at = 1
            while at < len(words):
                text = words[at].text
                if text == "--":
                    at += 1
                    break
                self._wrapper_option(name, text, valued)
                if name in _ASSIGNING and _NAME.match(text):
                    self._assigns(text)  # env X=1, sudo X=1, time X=1 (a keyword)
                    at += 1
                elif text.startswith("-") and (text != "-" or name == "env"):
                    if name in _WRAPPER_FILES:
                        files += self._wrapper_file(name, words, at)
                    at += 2 if _takes_next(text, valued) else 1
                else:
                    break
            at += operands
            if at >= len(words):
                return words[:1], via_xargs, files  # the wrapper alone (``sudo -s``)
            words = words[at:]
        return words, via_xargs, files

    def _runs(self, program: str, words: list[Word]) -> tuple[list[Command], bool]:
        """The commands a program runs from a string, and whether it reads code.

        ``bash -c STRING``, ``su -c STRING``, ``watch WORDS``, ``trap STRING``:
        STRING's commands, read the same way. A shell or interpreter given no
        script (or ``-``, or ``/dev/fd/N``) reads its program from stdin.
        """
        rest = words[1:]
        if is_shell(program):
            return self._shell_args(rest)
        if _interpreter(program):
            return [], _reads_code(program, rest)
        stdin = _reads_commands(program, rest)
        if program in _C_RUNNERS:
            return self._c_string(rest), stdin
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
            return _repeated(self._joined(rest[at:])), False
        if program == "trap":  # a DEBUG or ERR trap runs many times
            command = [w for w in rest if not w.text.startswith("-")][:1]
            return _repeated(self._string(command[0]) if command else []), False
        return [], stdin

    def _c_string(self, rest: list[Word]) -> list[Command]:
        """The commands of ``su -c STRING`` (``-lc STRING``, ``-c'STRING'`` too)."""
        for at, w in enumerate(rest):
            after = rest[at + 1] if at + 1 < len(rest) else None
            if w.text.startswith("--command="):
                return self._sub_parse(w.text.partition("=")[2])
            if w.text == "--command" or (
                w.text[:1] == "-" and w.text[1:2] != "-" and "c" in w.text
            ):
                attached = w.text[w.text.index("c") + 1 :] if w.text[1] != "-" else ""
                if attached:
                    return self._sub_parse(attached)
                return self._string(after) if after else []
        return []

    def _shell_args(self, rest: list[Word]) -> tuple[list[Command], bool]:
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

    def _string(self, w: Word) -> list[Command]:
        if w.dynamic:
            self.mark("a shell runs a string this reader cannot see")
            return []
        return self._sub_parse(w.text)

    def _joined(self, words: list[Word]) -> list[Command]:
        if any(w.dynamic for w in words):
            self.mark("a command runs words this reader cannot see")
            return []
        return self._sub_parse(" ".join(w.text for w in words))

    def _find_exec(self, words: list[Word]) -> list[Command]:
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
                    cmd.repeats = True  # once per file found
                    nested.append(cmd)
                at = end
            at += 1
        return nested

    def _cd(self, operands: list[Word]) -> None:
        targets = [w for w in operands if w.text == "-" or not w.text.startswith("-")]
        if self.compound or self.list_pos:
            # ``true || cd x; rm y``, ``if false; then cd x; fi``: it may not run
            self.cd_unsure = True
            self.cd_pending = self.cd_pending or self.list_or
        elif not targets or targets[0].text.startswith(("/", "~")):
            self.cd_unsure = self.cd_pending = False  # from here on, known again
        if not targets:
            self.cwd = self.home
        elif targets[0].dynamic or targets[0].globbed or targets[0].text == "-":
            self.mark("cd to a directory this reader cannot know")
        else:
            text = targets[0].text
            physical = self._paths(targets[0])[0]
            logical = os.path.normpath(os.path.join(self.cwd, text))  # noqa: PTH118 -- pathlib costs the hook's cold start
            self.cwd_linked = self.cwd_linked or physical != logical
            if self.cwd_linked and ".." in text.split("/"):
                # Bash's ``cd`` takes ``..`` off the path as written, the kernel
                # after following a symlink: ``cd link/../..`` goes elsewhere.
                self.mark("cd with '..' after a symlink")
            self.cwd = physical
            if not os.path.isdir(self.cwd) or not os.access(self.cwd, os.X_OK):  # noqa: PTH112 -- pathlib costs the hook's cold start
                # Bash stays where it was (and may go on): where is unknown here.
                self.mark("cd to a directory that does not exist or cannot be entered")

    def _evaluates(
        self, program: str, operands: list[Word], *, via_xargs: bool
    ) -> None:
        """Mark programs that run what this reader cannot see.

        Builtins that run text as code (quoted or not, as Bash runs them),
        launchers, code read from a file descriptor, ``xargs`` extending an argv
        rules would judge.
        """
        if program in _LAUNCHERS and any(self._names_watched(w) for w in operands):
            self.mark(f"{program!r} running a command this reader does not follow")
        if via_xargs and program not in _XARGS_HARMLESS:
            # ``echo -rf / | xargs rm``: rules would judge an argv xargs extends
            self.mark(f"xargs runs {program!r} with words it reads from its input")
        if (_interpreter(program) or program in ("source", ".")) and any(
            not w.dynamic and stream(w.text) for w in operands
        ):
            self.mark("a shell or interpreter reads a file descriptor")
        if program in _OPAQUE_WORDS or program in _DEFERRED:
            self.mark(f"{program!r}")
        self._running_options(program, operands)
        if program in _EVALUATING_OPTIONS and any(
            w.text in _EVALUATING_OPTIONS[program] or "[" in w.text for w in operands
        ):
            self.mark(f"{program!r} with an option that evaluates its argument")
        if program in ("source", ".") and (
            not operands or operands[0].dynamic or stream(operands[0].text)
        ):
            self.mark("source of a stream or a run-time name")

    def _names_watched(self, w: Word) -> bool:
        """A launcher's word names a watched program, or is a command line running one.

        ``tmux new 'r""m -rf x'``: the line is read as Bash would read it.
        """
        if _watched(w.text):  # one of its words (``expect -c 'spawn rm ...'``)
            return True
        if w.dynamic or not any(c in w.text for c in " \t\n"):
            return False
        return any(_watched(cmd.program) for cmd in self._sub_parse(w.text))

    def _running_options(self, program: str, operands: list[Word]) -> None:
        """Mark options with which a program runs a command (``tar -I CMD``)."""
        if program not in _RUNNING_OPTIONS and program not in ("make", "set"):
            return
        runs = _RUNNING_OPTIONS.get(program)
        texts = [w.text for w in operands]
        if (
            runs is not None
            and any(runs.match(t) for t in texts)
            and not (program == "sed" and "--sandbox" in texts)
        ):
            self.mark(f"{program} with an option that runs a command")
        if program == "tar" and texts and _OLD_TAR_RUNS.fullmatch(texts[0]):
            self.mark("tar with an option that runs a command")  # tar xIf CMD a.tar
        if program == "make" and any(
            t in ("-f-", "--file=-", "--makefile=-")
            or (t in ("-f", "--file", "--makefile") and after == "-")
            for t, after in itertools.pairwise([*texts, ""])
        ):
            self.mark("make reading its makefile from stdin")
        if (
            program == "go"
            and texts[:1] == ["env"]
            and any(t.lstrip("-").partition("=")[0] == "w" for t in texts)
            and any(_RISKY_NAME.match(t) or _GO_RUNS.match(t) for t in texts)
        ):  # go env -w GOFLAGS=..., --w, -w=true; CC=./x
            self.mark("go env -w with a setting that changes what go runs")
        if program == "set" and any(
            t == "keyword" or (t[:1] == "-" and "k" in t[1:]) for t in texts
        ):
            self.mark("set -k (assignments anywhere set the environment)")

    def _glob(self, w: Word) -> list[str]:
        if not w.globbed or w.dynamic:
            return [w.text]
        pattern = w.pattern
        if "[^" in pattern or "[!" in pattern or "[[:" in pattern:
            self.mark("a bracket glob this reader cannot expand as Bash does")
            return [w.text]
        self.globs += 1
        if self.globs > _MAX_GLOBS:
            self.mark("more globs than this reader expands on one line")
            return [w.text]
        if sum(glob.has_magic(part) for part in pattern.split("/")) > _MAX_GLOB_PARTS:
            self.mark("a glob too wide to expand")
            return [w.text]
        rooted = os.path.join(self.cwd, pattern)  # noqa: PTH118 -- pathlib costs the hook's cold start
        found = sorted(itertools.islice(glob.iglob(rooted), _MAX_MATCHES + 1))  # noqa: PTH207 -- pathlib costs the hook's cold start
        written = self._glob_writes(pattern)
        found += [f for f in written if f not in found]
        if not found:
            return [w.text]
        if len(found) > _MAX_MATCHES:
            self.mark("a glob with too many matches")
        if os.path.isabs(pattern):  # noqa: PTH117 -- pathlib costs the hook's cold start
            return found
        return [os.path.relpath(f, self.cwd) for f in found]

    def _paths(self, w: Word) -> list[str]:
        """The absolute paths a word names (a variable's stays as written).

        An option's value counts (``--output=FILE``, ``-oFILE`` does not).
        """
        if w.dynamic:
            static = _RUNTIME.sub("", w.text)
            if static != w.text and any(c in static for c in "/.~"):
                # A path built at run time (``proj/$(echo ../x)``, ``.en${z}v``)
                # can point anywhere: rules must not take it as written.
                self.mark("a path built from a variable or substitution")
            return [w.text]
        if w.text.startswith("-") and len(w.text) > 1:
            _, eq, value = w.text.partition("=")
            return [self._real(value)] if eq and value else []
        paths = [self._real(name) for name in self._glob(w)]
        if "=" in w.text and _NAME.match(w.text):
            paths += self._value_paths(w.text)  # dd of=FILE, make X=~/y (Bash: ~ too)
        if "/" in w.text and "://" not in w.text and _JOINED.search(w.text):
            # docker -v ~/.ssh:/k, --mount src=/x,dst=/y: the paths inside
            paths += [self._real(p) for p in _JOINED.findall(w.text)]
        # ``@FILE`` and ``name=@FILE`` (curl -d/-F, httpie): the file is read and sent.
        _, at, attached = w.text.rpartition("@")
        if at and attached and (w.text.startswith("@") or "=@" in w.text):
            paths.append(self._real(attached))
        return paths

    def _real(self, name: str) -> str:
        return os.path.realpath(os.path.join(self.cwd, name))  # noqa: PTH118 -- pathlib costs the hook's cold start


def _reads_code(program: str, args: list[Word]) -> bool:
    """An interpreter with these arguments reads its program from stdin."""
    if program in ("pwsh", "powershell") and any(w.text == "-" for w in args):
        return True  # pwsh -File -, pwsh -c -: the script from stdin
    if program in ("deno", "bun") and args[:1] and args[0].text == "run":
        args = args[1:]  # deno run -
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


def _sets_host_variable(words: list[Word]) -> bool:
    """``read GH_HOST``, ``for GH_HOST in H``, ``export GH_HOST``: a host set unseen."""
    names = [w.text for w in words[1:] if not w.text.startswith("-")]
    return (
        bool(words)
        and words[0].text in ("read", "for", "export", "declare", "typeset")
        and any(n.removesuffix("+") in HOST_VARIABLES for n in names)
    )


def _takes_next(option: str, valued: frozenset[str]) -> bool:
    """The option word takes the next word as its value (``-u root``, ``-nu root``).

    Not ``-uroot``: the first letter taking a value takes the rest of the word.
    """
    if option.startswith("--") or len(option) <= 2:  # noqa: PLR2004
        return option in valued
    for at, letter in enumerate(option[1:], 2):
        if f"-{letter}" in valued:
            return at == len(option)
    return False


def fed_by(commands: list[Command]) -> list[str]:
    """What a command reading the output of ``commands`` is fed by.

    They and their own sources (``curl -o f URL; cat f | sh``: ``cat``, ``curl``).
    """
    fed = [c.program for c in commands] + [s for c in commands for s in c.sources]
    return list(dict.fromkeys(fed))


def _repeated(commands: list[Command]) -> list[Command]:
    for cmd in commands:
        cmd.repeats = True
    return commands


def _reads_commands(program: str, rest: list[Word]) -> bool:
    """It runs commands read from stdin, or launches a program that does."""
    if program in STDIN_READERS:
        return reads_commands(program, [w.text for w in rest])
    return program in _LAUNCHERS and _launches_a_reader([w.text for w in rest])


def _launches_a_reader(texts: list[str]) -> bool:
    """A launcher's command reads commands from stdin (``docker exec -i db psql``)."""
    for at, text in enumerate(texts):
        name = text.rpartition("/")[2]
        if name in STDIN_READERS:
            return reads_commands(name, texts[at + 1 :])
    return False


def _watched(word: str) -> bool:
    """``word`` names a watched program, alone or in a command string it holds."""
    for part in _COMMAND_STRING.split(word) if " " in word else (word,):
        name = os.path.basename(part)  # noqa: PTH119 -- pathlib costs the hook's cold start
        if name in _WATCHED or _interpreter(name):
            return True
    return False


def is_shell(program: str) -> bool:
    """``program`` is a POSIX-like shell (``sh``, ``rbash``, ``ksh93``...)."""
    return bool(_SHELL.fullmatch(program))


def _interpreter(program: str) -> bool:
    return is_shell(program) or bool(_INTERPRETER.match(program))


def _url_hosts(words: list[str]) -> list[str]:
    """The host of every URL in ``words`` (``?`` for one that does not parse)."""
    hosts: list[str] = []
    for word in words:
        for url in _URL.findall(word) if "://" in word else ():
            try:
                host = urllib.parse.urlsplit(url).hostname
            except ValueError:
                host = "?"
            hosts.append(host or "?")
    return hosts


def _bare_urls(argv: list[str]) -> list[str]:
    """The hosts of ``curl``'s and ``wget``'s operands written without a scheme.

    Both take every operand as a URL (``curl https://known/ evil.example``); the
    value of an option not known to take one counts too (a host asked about).
    """
    valued = _FETCH_VALUED[argv[0]]
    hosts: list[str] = []
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word.startswith("--url="):
            hosts += _bare_urls([argv[0], word[6:]])
        elif word.startswith("-") and word != "-":
            cluster = not word.startswith("--")
            skip = "=" not in word and (
                (cluster and word[-1] in valued[0]) or word[2:] in valued[1]
            )
        elif "://" not in word:
            try:
                hosts.append(urllib.parse.urlsplit("//" + word).hostname or "?")
            except ValueError:
                hosts.append("?")
    return hosts


def _hosts(argv: list[str]) -> list[str]:
    hosts = _url_hosts(argv[1:]) + program_hosts(argv)
    if argv[0] in _DECLARERS:  # export GH_HOST=evil.example
        hosts += env_hosts(argv[1:])
    if argv[0] in _FETCH_VALUED:
        hosts += _bare_urls(argv)
    for word in argv[1:]:
        scp = _SCP.match(word)
        if scp and "://" not in word:
            user, host = scp.groups()
            # ``HEAD:file`` is no host; ``me@box:``, ``10.0.0.1:``, ``scp f box:`` are
            if user is not None or _NAMED_HOST.match(host) or argv[0] in _REMOTE_COPY:
                hosts.append(host.strip("[]").lower())
    return list(dict.fromkeys(hosts)) if len(hosts) > 1 else hosts
