import stat

import pytest

from enclosure.artifacts import TOKEN_FILE, PromotionApproval, PromotionTokens
from enclosure.errors import ArtifactError, UsageError


def test_a_new_token_approves_and_only_its_hash_is_stored(tmp_path):
    tokens = PromotionTokens(tmp_path / "home")
    token = tokens.rotate()
    stored = (tmp_path / "home" / TOKEN_FILE).read_text(encoding="ascii")
    assert token not in stored
    assert stat.S_IMODE((tmp_path / "home" / TOKEN_FILE).stat().st_mode) == 0o600
    assert tokens.approve(token, by="ci") == PromotionApproval("ci", "token")


def test_a_wrong_token_is_refused(tmp_path):
    tokens = PromotionTokens(tmp_path)
    token = tokens.rotate()
    with pytest.raises(ArtifactError) as exc:
        tokens.approve(token + "x", by="ci")
    assert exc.value.code == "E-ARTIFACT-TOKEN"


def test_rotating_makes_the_old_token_useless(tmp_path):
    tokens = PromotionTokens(tmp_path)
    old = tokens.rotate()
    new = tokens.rotate()
    assert old != new
    with pytest.raises(ArtifactError):
        tokens.approve(old, by="ci")
    assert tokens.approve(new, by="ci").via == "token"


def test_without_a_token_file_every_token_is_refused(tmp_path):
    with pytest.raises(ArtifactError) as exc:
        PromotionTokens(tmp_path).approve("", by="ci")
    assert exc.value.code == "E-ARTIFACT-TOKEN"


@pytest.mark.parametrize("name", ["", "  ", "bob\nroot", "bob\x1b[2J"])
def test_an_approver_needs_a_printable_name(name):
    with pytest.raises(UsageError) as exc:
        PromotionApproval(name)
    assert exc.value.code == "E-USAGE"
