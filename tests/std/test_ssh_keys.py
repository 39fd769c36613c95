"""Private keys std.ssh accepts: every valid key, not just those paramiko parses itself."""

import asyncssh
import pytest

from std_actions.ssh import load_private_key


@pytest.mark.parametrize(
    ("alg", "name"),
    [
        ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
        ("ssh-ed25519", "ssh-ed25519"),
        ("ssh-rsa", "ssh-rsa"),
    ],
)
def test_fifty_fresh_openssh_keys_of_each_type_all_load(alg, name):
    """paramiko alone refused about half of valid OpenSSH ECDSA keys."""
    for _ in range(50):
        text = asyncssh.generate_private_key(alg).export_private_key("openssh").decode()
        assert load_private_key(None, text, None).get_name() == name


def test_a_passphrase_protected_key_loads_with_its_password():
    key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    text = key.export_private_key("openssh", passphrase="s3cret").decode()
    assert load_private_key(None, text, "s3cret").get_name() == "ecdsa-sha2-nistp256"
