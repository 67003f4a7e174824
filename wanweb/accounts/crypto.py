"""Encryption at rest for secrets kept in the database (teams' vendor keys, shared/RELIABILITY.md §6).

`FIELD_ENCRYPTION_KEYS` holds Fernet keys, newest first: the first encrypts, every one decrypts,
so an operator adds a new key in front, runs `manage.py rotate_encryption_keys`, then drops the old
one. A ciphertext no key opens (tampered, or its key was dropped too early) raises
`UndecryptableSecret`, whose message says what to do and never quotes the ciphertext.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UndecryptableSecret(Exception):
    """No configured key opens this ciphertext."""

    def __init__(self, message: str = "This secret cannot be decrypted: enter it again.") -> None:
        super().__init__(message)
        self.message = message


def configured_keys() -> tuple[str, ...]:
    return tuple(k.strip() for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) if k and k.strip())


def key_problems(keys: tuple[str, ...]) -> list[str]:
    """Why these keys cannot be used (empty when they can); never repeats a key."""
    problems = []
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            problems.append(f"key {position} of FIELD_ENCRYPTION_KEYS is not a Fernet key")
    return problems


@functools.lru_cache(maxsize=4)
def _multi(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set (see README: Configuration)")
    problems = key_problems(keys)
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
    return MultiFernet([Fernet(k.encode()) for k in keys])


def _fernet() -> MultiFernet:
    # Keyed by the key list, so a changed setting (tests, a reload) takes effect at once.
    return _multi(configured_keys())


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise UndecryptableSecret() from None


def rotate(ciphertext: str) -> str:
    """The same secret encrypted with the newest key (raises UndecryptableSecret like decrypt)."""
    try:
        return _fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise UndecryptableSecret() from None


def encrypted_with_newest(ciphertext: str) -> bool:
    """True when the newest key alone opens it (rotation has nothing to do)."""
    keys = configured_keys()
    try:
        Fernet(keys[0].encode()).decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError, TypeError, IndexError):
        return False
    return True
