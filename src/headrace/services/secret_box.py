"""Secrets the server must read back (webhook signing secrets), stored encrypted.

The key is derived from ``HEADRACE_SECRET_KEY``, which lives in the servers' settings and
never in the metadata store: a dump of the store alone holds only Fernet tokens (AES-128-CBC
with an HMAC-SHA256), from which no signature can be forged. Unlike API keys, these cannot
be stored hashed: signing needs the secret itself.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from headrace.errors import SystemFailure

_INFO = b"headrace stored secrets v1"


class SecretBox:
    """Encrypts and decrypts with the key derived from the server's secret key."""

    def __init__(self, server_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            server_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as err:
            raise SystemFailure(
                "a stored secret cannot be decrypted: HEADRACE_SECRET_KEY is not the key it "
                "was stored with"
            ) from err
