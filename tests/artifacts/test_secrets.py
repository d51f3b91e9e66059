import pytest

from enclosure.artifacts import find_secrets

AWS = b'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n'
PRIVATE_KEY = (
    b"-----BEGIN RSA PRIVATE KEY-----\n"
    b"MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    b"-----END RSA PRIVATE KEY-----\n"
)


def test_an_aws_key_is_found():
    assert find_secrets(AWS) == ["AWS Access Key"]


def test_a_private_key_block_is_found():
    assert "Private Key" in find_secrets(PRIVATE_KEY, "id_rsa")


def test_plain_text_has_no_secrets():
    assert find_secrets(b"hello world\nnothing to see\n", "notes.txt") == []


@pytest.mark.parametrize("name", ["image.png", "package-lock.json", "x.swagger"])
def test_a_name_cannot_steer_the_scan_past_its_filters(name):
    assert find_secrets(AWS, name) == ["AWS Access Key"]


def test_yaml_is_parsed_as_yaml():
    found = find_secrets(b"aws:\n  key: AKIAIOSFODNN7EXAMPLE\n", "config.yaml")
    assert "AWS Access Key" in found
