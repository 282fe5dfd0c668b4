"""The server's signing key is used only while its file is its owner's alone: a key
others can read could sign anything as this server. A real PEM file in a folder."""

from __future__ import annotations

import pytest

from wfobj.engine import KeyFile
from wfobj.engine.errors import SigningKeyError


def test_a_new_key_is_made_private_and_loads(tmp_path):
    key = KeyFile(tmp_path).key()
    assert (tmp_path / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert KeyFile(tmp_path).key().public == key.public


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_open_to_others_is_refused_naming_the_fix(tmp_path, mode):
    KeyFile(tmp_path).key()
    path = tmp_path / "signing-key.pem"
    path.chmod(mode)
    with pytest.raises(SigningKeyError) as info:
        KeyFile(tmp_path).key()
    assert str(info.value) == (f"{path}: the signing key is mode {mode:04o}, open to other "
                               f"users, so it is not used (chmod 600 {path})")
    path.chmod(0o600)
    KeyFile(tmp_path).key()
