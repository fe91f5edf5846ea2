"""Secrets of the venue's other vendors (Aruba controller, Huawei plain SNMPv3) are masked too."""

from __future__ import annotations

import pytest

from netwatch.configbackup import masking

MASKER = masking.Masker.build(masking.DEFAULT_MASKS, masking.DEFAULT_IGNORE)


@pytest.mark.parametrize("line, secrets", [
    (" wpa-passphrase WifiPass2026", ["WifiPass2026"]),
    ("mgmt-user admin root 5f4dcc3b5aa765d61d8327deb882cf99", ["5f4dcc3b5aa765d61d8327deb882cf99"]),
    ("mgmt-user guest-op a1b2c3d4e5f6a7b8", ["a1b2c3d4e5f6a7b8"]),
    (" snmp-agent usm-user v3 nms authentication-mode sha AuthH1x privacy-mode aes128 PrivH2x",
     ["AuthH1x", "PrivH2x"]),
])
def test_masked(line: str, secrets: list[str]) -> None:
    out = MASKER.apply(line + "\n")
    assert not any(s in out for s in secrets), out
    assert "<removed>" in out


def test_huawei_cipher_form_and_key_ids_keep_their_shape() -> None:
    out = MASKER.apply(" ospf authentication-mode md5 1 cipher %^%#Zx9%^%#\n")
    assert out.strip() == "ospf authentication-mode md5 1 cipher <removed>"
