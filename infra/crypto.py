"""Secrets at rest (IdP client secrets): Fernet under TOLLGATE_SECRET_KEY.

TOLLGATE_SECRET_KEY is one urlsafe-base64 32-byte Fernet key, or several separated by commas
during a rotation (the first encrypts, every one decrypts). In dev and test, when it is unset, a
key is generated once and kept in `<data_dir>/secret.key` (0600) so restarts can still decrypt;
in prod the process refuses to start without it. No message here ever contains a key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from infra.settings import Settings

DEV_KEY_FILE = "secret.key"


class SecretKeyError(RuntimeError):
    """The secret key is missing or malformed (configuration error, fatal at start-up)."""


class DecryptionError(RuntimeError):
    """A stored secret does not decrypt under any configured key (wrong or rotated-out key)."""


class SecretBox:
    """Encrypts and decrypts small secrets; tokens are authenticated and carry their time."""

    __slots__ = ("_fernet", "_key_count")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no secret key configured")
        try:
            fernets = [Fernet(key) for key in keys]
        except ValueError:
            raise SecretKeyError(
                "TOLLGATE_SECRET_KEY must be urlsafe-base64 32-byte keys (comma-separated); "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            ) from None
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    def encrypt(self, plaintext: str) -> bytes:
        """Ciphertext of a UTF-8 string under the primary key."""
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        """The plaintext, or DecryptionError when no configured key opens it."""
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except InvalidToken:
            raise DecryptionError(
                "stored secret does not decrypt with the configured keys"
            ) from None

    def __repr__(self) -> str:
        return f"SecretBox(keys={self._key_count})"


def generate_key() -> str:
    """A new random key in the format TOLLGATE_SECRET_KEY expects."""
    return Fernet.generate_key().decode("ascii")


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for the configured key(s); dev/test fall back to a persisted generated key."""
    raw = settings.secret_key.get_secret_value().strip()
    if raw:
        keys = [part.strip().encode("ascii") for part in raw.split(",") if part.strip()]
        return SecretBox(keys)
    if settings.env == "prod":
        raise SecretKeyError(
            "TOLLGATE_SECRET_KEY is required in production (it encrypts SSO client secrets)"
        )
    return SecretBox([_dev_key(settings.data_dir / DEV_KEY_FILE)])


def _dev_key(path: Path) -> bytes:
    """The key stored at `path`, created (0600) on first use; safe when processes race."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".secret-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
                handle.write(Fernet.generate_key() + b"\n")
            # link() is atomic and fails if another process got there first: theirs wins.
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            os.unlink(temp)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise SecretKeyError(
            f"{path} does not hold a valid key; remove it or set TOLLGATE_SECRET_KEY"
        ) from None
    return key
