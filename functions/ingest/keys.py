"""Where the HMAC key comes from: Secrets Manager on AWS, a 0600 key file on a laptop.

The key is never logged: HmacKey hides its material from repr, and nothing here prints it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

from ingest.pseudonymise import HmacKey

SECRET_MAX_AGE_SECONDS = 300  # Powertools caches the secret this long per execution environment


class KeyUnavailable(RuntimeError):
    """The HMAC key is missing or unsafe; the message says what to do."""


def key_from_secret(secret_id: str) -> HmacKey:
    """The key stored as the SecretString of ``secret_id`` (cached by Powertools parameters)."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 (AWS runtime only)

    value = parameters.get_secret(secret_id, max_age=SECRET_MAX_AGE_SECONDS)
    material = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(material) < 32:
        raise KeyUnavailable(
            f"the secret {secret_id} holds fewer than 32 bytes: too short for a key"
        )
    return HmacKey(material)


def key_from_file(path: Path) -> HmacKey:
    """The key in ``path``, created (64 random bytes, hex, mode 0600) if it does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyUnavailable(
            f"the key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    try:
        material = path.read_text(encoding="ascii").strip().encode("ascii")
    except UnicodeDecodeError as exc:
        raise KeyUnavailable(f"the key file {path} is not ASCII text (hex is expected)") from exc
    if len(material) < 32:
        raise KeyUnavailable(f"the key file {path} holds fewer than 32 characters: too short a key")
    return HmacKey(material)


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` atomically: a concurrent reader never sees a partial file.

    The key is written to a private temporary file first and then hard-linked into place;
    the link fails when another process created ``path`` meanwhile, and its key wins.
    """
    key = secrets.token_hex(64) + "\n"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key)
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            pass  # created meanwhile: that key wins
        except OSError:  # a file system without hard links: exclusive create instead
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(key)
    finally:
        Path(tmp_name).unlink()
