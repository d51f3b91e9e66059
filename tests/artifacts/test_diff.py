from enclosure.artifacts import Side, render_diff


def test_a_text_change_is_a_unified_diff():
    old = Side("file", "h1", b"one\ntwo\nthree\n")
    new = Side("file", "h2", b"one\n2\nthree\n")
    assert render_diff("/out/a.txt", old, new, max_lines=100) == (
        "--- a/out/a.txt\n+++ b/out/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
    )


def test_added_and_deleted_files_diff_against_nothing():
    added = render_diff(
        "/out/n", Side("absent"), Side("file", "h", b"x\n"), max_lines=9
    )
    assert added.splitlines()[:2] == ["--- /dev/null", "+++ b/out/n"]
    assert added.splitlines()[-1] == "+x"
    gone = render_diff("/out/n", Side("file", "h", b"x\n"), Side("absent"), max_lines=9)
    assert gone.splitlines()[1] == "+++ /dev/null"


def test_binaries_are_described_with_both_hashes():
    old = Side("file", "aaa", b"\0\1")
    new = Side("file", "bbb", b"\0\2")
    out = render_diff("/out/x.bin", old, new, max_lines=100)
    assert out.splitlines()[-1] == "binary files differ: a sha256:aaa b sha256:bbb"


def test_a_symlink_is_described_never_followed():
    old = Side("file", "aaa", b"text\n")
    new = Side("symlink", "ccc", b"/etc/passwd")
    out = render_diff("/out/x", old, new, max_lines=100)
    assert out.splitlines()[-1] == "file sha256:aaa -> symlink to /etc/passwd"
    assert "root:" not in out


def test_terminal_control_sequences_are_escaped():
    new = Side("file", "h", b"\x1b]0;pwned\x07\x1b[2J ok\n")
    out = render_diff("/out/\x1bname", Side("absent"), new, max_lines=100)
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "+\\x1b]0;pwned\\x07\\x1b[2J ok" in out.splitlines()
    assert "+++ b/out/\\x1bname" in out.splitlines()


def test_long_diffs_are_cut():
    new = Side("file", "h", b"".join(b"line %d\n" % n for n in range(1000)))
    out = render_diff("/out/big", Side("absent"), new, max_lines=50).splitlines()
    assert len(out) == 51
    assert out[-1].startswith("... diff cut: ")


def test_a_partial_read_says_so():
    new = Side("file", "full-hash", b"start\n", complete=False)
    out = render_diff("/out/big", Side("absent"), new, max_lines=50)
    assert "only the start of b is shown (full-hash)" in out
