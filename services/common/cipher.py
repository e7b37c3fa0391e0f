"""AES-GCM as the platform uses it: the event stores' cipher, and the random nonces of every AES-GCM seal.

`StoreCipher` is the library's `eventsourcing.cryptography.AESCipher` (the same keys, the same stored form: nonce, tag,
ciphertext; every store reads as before, and the library's cipher reads what it writes) without two costs the library
pays at each event: a new AES-GCM object, and a read of 12 bytes from the OS's random source. That read lets go of the
interpreter lock, so a thread encrypting many events (a clock tick's thousand flags) waited for the lock again at each
one, behind every other thread of the process (the tick's own seal readers): 6-33 ms of CPU a tick of 1,000 flags.

`draw_nonce()` draws nonces from the OS a block at a time instead. A process forked after drawing forgets what its
parent drew: the same nonce twice under one key would give AES-GCM's key stream and authentication away.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

CIPHER_TOPIC = "services.common.cipher:StoreCipher"
"""The eventsourcing environment's `CIPHER_TOPIC` of every service's store."""

NONCE_BYTES = 12
TAG_BYTES = 16
NONCES_DRAWN = 1024
"""Nonces drawn from the OS at once (12 KiB)."""

_nonces: Iterator[bytes] = iter(())
"""The nonces drawn and not handed out yet. Each is handed out by one `next` on a list's iterator: a single step that no
other thread, signal handler or finaliser can interrupt, so two callers never get the same one (a position read, then
advanced, handed the same nonce to a signal handler drawing between the two)."""


def _forget_drawn() -> None:
    global _nonces
    _nonces = iter(())


os.register_at_fork(after_in_child=_forget_drawn)


def draw_nonce() -> bytes:
    """96 random bits from the OS's source, never handed out twice in this process or any process forked from it."""
    global _nonces
    drawn = next(_nonces, None)
    while drawn is None:  # a new block; one drawn meanwhile by another caller is as good (both are fresh)
        block = os.urandom(NONCE_BYTES * NONCES_DRAWN)
        _nonces = iter([block[at : at + NONCE_BYTES] for at in range(0, len(block), NONCE_BYTES)])
        drawn = next(_nonces, None)
    return drawn


def seal_aead(aead: AESGCM, plaintext: bytes, associated: bytes) -> bytes:
    """`plaintext` under a fresh nonce, as nonce, ciphertext, tag (the form of the vault, cursors and sessions)."""
    nonce = draw_nonce()
    return nonce + aead.encrypt(nonce, plaintext, associated)


def open_aead(aead: AESGCM, sealed: bytes, associated: bytes) -> bytes:
    """What `seal_aead` sealed under the same key and associated data; `InvalidTag` (or `ValueError`) otherwise."""
    return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)


class StoreCipher(AESCipher):
    """The library's AES-GCM cipher (its decryption unchanged) with one AES-GCM object and `draw_nonce()`."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._aesgcm = AESGCM(self.key)

    def encrypt(self, plaintext: bytes) -> bytes:
        drawn = draw_nonce()
        sealed = self._aesgcm.encrypt(drawn, plaintext, None)
        return drawn + sealed[-TAG_BYTES:] + sealed[:-TAG_BYTES]  # the library's order: nonce, tag, ciphertext
