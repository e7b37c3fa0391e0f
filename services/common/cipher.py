"""AES-GCM as the platform uses it: the event stores' cipher, and the random nonces of every AES-GCM seal.

`StoreCipher` is the library's `eventsourcing.cryptography.AESCipher` (the same keys, the same stored form: nonce, tag,
ciphertext; every store reads as before, and the library's cipher reads what it writes) without two costs the library
pays at each event: a new AES-GCM object, and a read of 12 bytes from the OS's random source. That read lets go of the
interpreter lock, so a thread encrypting many events (a clock tick's thousand flags) waited for the lock again at each
one, behind every other thread of the process (the tick's own seal readers): 6-33 ms of CPU a tick of 1,000 flags.

`draw_nonce()` draws nonces from the OS a block at a time instead, each thread its own block. A process forked after
drawing forgets what its parent drew: the same nonce twice under one key would give AES-GCM's key stream and
authentication away.
"""

from __future__ import annotations

import os
import threading

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

CIPHER_TOPIC = "services.common.cipher:StoreCipher"
"""The eventsourcing environment's `CIPHER_TOPIC` of every service's store."""

NONCE_BYTES = 12
TAG_BYTES = 16
NONCES_DRAWN = 1024
"""Nonces a thread draws from the OS at once (12 KiB)."""

_drawn = threading.local()


def _forget_drawn() -> None:
    global _drawn
    _drawn = threading.local()


os.register_at_fork(after_in_child=_forget_drawn)


def draw_nonce() -> bytes:
    """96 random bits from the OS's source, never handed out twice in this process or any process forked from it."""
    drawn = _drawn
    block: bytes = getattr(drawn, "block", b"")
    at: int = getattr(drawn, "at", 0)
    if at >= len(block):
        block, at = os.urandom(NONCE_BYTES * NONCES_DRAWN), 0
        drawn.block = block
    drawn.at = at + NONCE_BYTES
    return block[at : at + NONCE_BYTES]


class StoreCipher(AESCipher):
    """The library's AES-GCM cipher (its decryption unchanged) with one AES-GCM object and `draw_nonce()`."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._aesgcm = AESGCM(self.key)

    def encrypt(self, plaintext: bytes) -> bytes:
        drawn = draw_nonce()
        sealed = self._aesgcm.encrypt(drawn, plaintext, None)
        return drawn + sealed[-TAG_BYTES:] + sealed[:-TAG_BYTES]  # the library's order: nonce, tag, ciphertext
