"""Keys derived from SECRET_KEY, one per purpose, so that no two uses share a key.

TOTP secrets are stored as Fernet tokens (AES-128-CBC with HMAC-SHA256): a dump of the
database alone does not give them away. Changing SECRET_KEY therefore makes every second
factor unreadable; their owners then need an admin's reset (or `create-admin --reset-2fa`).
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backend.settings import get_settings


def derive(purpose: str) -> bytes:
    """A 256-bit key for one purpose (HKDF-SHA256 over SECRET_KEY)."""
    return _derive(get_settings().secret_key, purpose)


@lru_cache
def _derive(secret_key: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"library:{purpose}".encode()
    ).derive(secret_key.encode())


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive("totp-secret")))


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str | None:
    """The plaintext, or None when the token was made with another key or altered."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def keyed_hash(purpose: str, value: str) -> str:
    """An HMAC-SHA256 hex digest, for values that are looked up but never read back."""
    return hmac.new(derive(purpose), value.encode(), hashlib.sha256).hexdigest()
