"""Secrets at rest: Fernet under TOLLGATE_SECRET_KEY, a persisted key in dev, none in prod."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.crypto import (
    DEV_KEY_FILE,
    DecryptionError,
    SecretBox,
    SecretKeyError,
    generate_key,
    load_secret_box,
)
from infra.settings import Settings


def settings_with(settings: Settings, tmp_path: Path, key: str, env: str = "dev") -> Settings:
    return settings.model_copy(
        update={"secret_key": SecretStr(key), "env": env, "data_dir": tmp_path / "data"}
    )


class TestSecretBox:
    def test_round_trip_and_ciphertext_hides_the_plaintext(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        box = load_secret_box(settings_with(settings, tmp_path, generate_key()))

        ciphertext = box.encrypt("client-secret-value")

        assert b"client-secret-value" not in ciphertext
        assert box.decrypt(ciphertext) == "client-secret-value"
        assert box.encrypt("same") != box.encrypt("same")

    def test_a_rotated_key_still_decrypts_and_the_first_key_encrypts(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        old, new = generate_key(), generate_key()
        before = load_secret_box(settings_with(settings, tmp_path, old)).encrypt("s")

        rotated = load_secret_box(settings_with(settings, tmp_path, f"{new}, {old}"))

        assert rotated.decrypt(before) == "s"
        with pytest.raises(DecryptionError):
            SecretBox([old.encode()]).decrypt(rotated.encrypt("s"))

    def test_a_malformed_key_is_refused_without_echoing_it(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        with pytest.raises(SecretKeyError) as caught:
            load_secret_box(settings_with(settings, tmp_path, "not-a-fernet-key"))

        assert "not-a-fernet-key" not in str(caught.value)
        assert "not-a-fernet-key" not in repr(SecretBox([generate_key().encode()]))


class TestKeyWithoutConfiguration:
    def test_dev_generates_a_private_key_once_and_keeps_it(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        dev = settings_with(settings, tmp_path, "")

        ciphertext = load_secret_box(dev).encrypt("kept")
        restarted = load_secret_box(dev)

        path = tmp_path / "data" / DEV_KEY_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert restarted.decrypt(ciphertext) == "kept"
        assert [p.name for p in path.parent.iterdir()] == [DEV_KEY_FILE]

    def test_prod_refuses_to_start_without_a_key(self, settings: Settings, tmp_path: Path) -> None:
        with pytest.raises(SecretKeyError, match="TOLLGATE_SECRET_KEY is required"):
            load_secret_box(settings_with(settings, tmp_path, "", env="prod"))

        assert not (tmp_path / "data").exists()
