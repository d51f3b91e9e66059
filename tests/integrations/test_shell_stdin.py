import itertools
import shlex

import pytest

from enclosure.integrations._shell import parse
from enclosure.integrations._shell_stdin import (
    STDIN_READERS,
    reads_commands,
    stream,
)

CWD = "/work/proj"
HOME = "/home/u"


def reads(line: str) -> bool:
    program, *args = shlex.split(line)
    assert program in STDIN_READERS
    return reads_commands(program, args)


@pytest.mark.parametrize(
    "line",
    [
        "sqlite3 x.db",
        "sqlite3",
        "sqlite3 -separator , x.db",
        "duckdb x.db",
        "psql",
        "psql -U me db",
        "psql -f - db",
        "psql --file=/dev/stdin",
        "psql -f /dev/fd/0",
        "mysql -u root db",
        "mariadb",
        "ed f",
        "ex f",
        "vim f",
        "vim -es",
        "nvim -es f",
        "view f",
        "sed -f - f",
        "sed -nf /dev/stdin f",
        "sed --file=- f",
        "sed --file - f",
        "gdb -q ./a",
        "lldb ./a",
        "dc",
        "dc -f -",
        "sftp github.com",
        "sftp -b - github.com",
        "ftp host",
        "parallel",
        "parallel -j4",
        "su",
        "su - root",
        "su root",
        "runuser -u me",
        "script -q /dev/null",
        "chroot",
        "pkexec",
        "newgrp docker",
        "sg docker",
    ],
)
def test_programs_given_no_commands_run_their_stdin(line: str):
    assert reads(line)


@pytest.mark.parametrize(
    "line",
    [
        "sqlite3 x.db 'select 1'",
        "sqlite3 x.db .tables",
        "duckdb -c 'select 1'",
        "psql -c 'select 1'",
        "psql -qc 'select 1'",
        "psql -f q.sql",
        "psql -l",
        "mysql -e 'select 1'",
        "mysql --execute='select 1' db",
        "vim -",
        "sed -f script.sed f",
        "sed -n 1p f",
        "gdb -batch -ex bt ./a core",
        "lldb --batch -o run ./a",
        "dc -e '1 2 + p'",
        "dc prog.dc",
        "sftp -b cmds.txt github.com",
        "parallel gzip",
        "su -c id root",
        "su root script.sh",
        "script -c ls log.txt",
        "sg docker -c id",
    ],
)
def test_programs_given_their_commands_do_not_read_stdin(line: str):
    assert not reads(line)


def test_a_program_it_does_not_know_reads_no_commands():
    assert "cat" not in STDIN_READERS
    assert not reads_commands("cat", [])


@pytest.mark.parametrize(
    "line",
    [
        "cat q.sql | sqlite3 x.db",
        "cat q.sql | psql",
        "cat q.sql | sudo -u postgres psql db",
        "echo '.shell id' | sqlite3 x.db",
        "echo -e '\\x2eshell id' | sqlite3 x.db",
        "printf '\\x2eshell id' | sqlite3 x.db",
        'echo "$q" | psql',
        "printf x | ed f",
        "echo x | vim f",
        "echo x | sed -f - f",
        "echo x | parallel",
        "echo x | sudo chroot /",
        "echo x | R --vanilla",
        "echo x | Rscript -",
        "echo x | julia",
        "echo x | irb",
        "echo x | deno run -",
        "echo x | bun run -",
        "cat dump.sql | docker exec -i db psql -U me",
        "cat q.sql | uv run sqlite3 x.db",
        "sqlite3 x.db <<'EOF'\n.shell id\nEOF",
        "sqlite3 x.db <<EOF\n.tables\n$(cat q.sql)\nEOF",
        'psql <<< "$q"',
        "psql <<< 'select 1 \\gx |sh'",
        "mysql <<< 'source /dev/stdin'",
        "while read -r q; do psql; done < <(cat q.sql)",
        "vim -s keys.txt f",
        "psql -c '\\! id'",
        "psql -c \"copy t to program 'id'\"",
        "mysql -e 'system id'",
        "mariadb -e '\\! id'",
        "go build -toolexec ./x",
        "go build -ldflags='-extld=./x' ./...",
        "go test -exec=./x ./...",
        "GOFLAGS=-toolexec=./x go build",
        "export GOENV=./x.env; go build",
        "go env -w GOFLAGS=-toolexec=./x",
        "PSQLRC=./x psql -c 'select 1'",
        'sh "$(ls -t *.sh | head -1)"',
        "mysql --defaults-extra-file=./x -e 'select 1'",
    ],
)
def test_commands_fed_to_a_program_that_runs_them_are_opaque(line: str):
    parsed = parse(line, CWD, HOME)
    assert parsed.opaque
    assert parsed.why


@pytest.mark.parametrize(
    "line",
    [
        "sqlite3 x.db < schema.sql",
        "psql < dump.sql",
        "cat q.sql | grep x",
        "git log | vim -",
        "sqlite3 x.db 'select 1' | head",
        "echo x | psql -c 'select 1'",
        "echo x | docker exec -i db psql -l",
        "docker exec -i db psql -U me < dump.sql",
        "go env -w CGO_ENABLED=0",
        "go build ./...",
        "Rscript x.R",
        'sqlite3 "$(ls -t *.db | head -1)"',
    ],
)
def test_input_that_is_no_program_is_not_opaque(line: str):
    parsed = parse(line, CWD, HOME)
    assert not parsed.opaque, parsed.why


WORDS = ["", "-", "--", "-c", "-f", "--file", "--file=-", "-nf", "-b", "x", "-es"]
WORDS += ["-batch", "/dev/stdin", "-u", "-cmd", "--command=x", "root"]


@pytest.mark.parametrize("program", sorted(STDIN_READERS))
def test_any_argv_is_read_and_never_raises(program: str):
    for n in range(4):
        for args in itertools.product(WORDS, repeat=n):
            assert reads_commands(program, list(args)) in (True, False)


@pytest.mark.parametrize(
    "line",
    [
        "vim -nEs -",
        "vim -Ne -",
        "sed --fi=- f",
        "sed --fil - f",
        "sed -f //dev/stdin f",
        "psql -f /dev//stdin",
        "psql -c '\\i /dev/stdin'",
        "psql -c '\\include_relative -'",
        "mysql -e 'source /dev/stdin'",
        "mysql -e '\\. /proc/self/fd/0'",
        "parallel {}",
        "parallel -q {.}",
        "lldb -b -s /dev/stdin",
        "su root -l",
        "su root -s /bin/sh",
        "runuser -u me -- -",
        "script /dev/null -q",
        "sqlplus -s u/p@db",
        "gcc -xc - -o p",
        "tcc -run -",
    ],
)
def test_options_spelled_otherwise_still_read_stdin(line: str):
    assert reads(line)


@pytest.mark.parametrize(
    "line",
    [
        "vim -R -",
        "sed --follow-symlinks -i s/a/b/ f",
        "psql -c '\\i schema.sql'",
        "parallel echo {}",
        "su root -c id",
        "script -q /dev/null -c id",
        "sqlplus -s u/p@db @x.sql",
        "gcc -o p x.c",
    ],
)
def test_options_that_take_commands_elsewhere_still_read_none(line: str):
    assert not reads(line)


@pytest.mark.parametrize(
    "name",
    ["/dev/stdin", "//dev/stdin", "/dev//stdin", "/dev/./stdin", "/proc/self/fd/0"],
)
def test_a_stream_is_known_however_spelled(name: str):
    assert stream(name)


@pytest.mark.parametrize("name", ["-", "dev/stdin", "./dev/stdin", "/var/dev/stdin"])
def test_other_names_are_no_stream(name: str):
    assert not stream(name)


@pytest.mark.parametrize(
    "line",
    [
        "sqlite3 app.db <<< 'select count(*) from t;'",
        "echo 'select 1;' | sqlite3 app.db",
        "psql -d app <<'SQL'\nselect count(*) from users;\nSQL",
        "mysql app <<< 'show tables;'",
        "sqlite3 x.db <<'EOF'\n.tables\nEOF",
        "psql <<< 'select 1'",
    ],
)
def test_sql_fed_on_stdin_is_never_read_as_safe(line: str):
    # Quoted names, comments, variables and SQL built at run time run what no
    # pattern finds (a review: "edit"('', 'id'), psql's out to a pipe, :x).
    assert parse(line, CWD, HOME).opaque
