"""Secrets at rest (data-source auth headers): Fernet with a key kept in the instance folder.

The key is ``instance/secrets/fernet.key`` (``FERNET_KEY_PATH``), written by ``flask init`` or on
first use, readable by the owner only. Several hosts must share it, like ``instance/config.py``;
``FERNET_KEY`` in the configuration (a key from ``Fernet.generate_key()``) takes precedence over
the file. The key is not derived from ``SECRET_KEY`` so that rotating the session key does not make
every stored header unreadable.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

__all__ = ["InvalidToken", "decrypt", "encrypt", "ensure_key"]


def ensure_key(path: Path) -> bool:
    """Create the key file unless it exists; True when created. Safe when two processes race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(Fernet.generate_key())
    return True


def _fernet() -> Fernet:
    configured = current_app.config.get("FERNET_KEY")
    if configured:
        return Fernet(configured)
    path = Path(current_app.config["FERNET_KEY_PATH"])
    ensure_key(path)
    return Fernet(path.read_bytes().strip())


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """Raises ``InvalidToken`` when the key is not the one that encrypted it."""
    return _fernet().decrypt(token.encode("ascii")).decode()
