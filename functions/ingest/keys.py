"""Where the HMAC key comes from: Secrets Manager on AWS, a 0600 key file on a laptop.

The key is never logged: HmacKey hides its material from repr, and nothing here prints it.
"""

from __future__ import annotations

import os
import secrets
import stat
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
        raise KeyUnavailable(f"the secret {secret_id} holds fewer than 32 bytes: too short for a key")
    return HmacKey(material)


def key_from_file(path: Path) -> HmacKey:
    """The key in ``path``, created (64 random bytes, hex, mode 0600) if it does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(64) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyUnavailable(
            f"the key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    material = path.read_text(encoding="ascii").strip().encode("ascii")
    if len(material) < 32:
        raise KeyUnavailable(f"the key file {path} holds fewer than 32 characters: too short a key")
    return HmacKey(material)
