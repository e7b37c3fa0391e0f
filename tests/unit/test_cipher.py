"""The stores' AES-GCM cipher: the library's stored form, nonces drawn a block at a time, never twice."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from services.common import cipher
from services.common.cipher import NONCE_BYTES, NONCES_DRAWN, TAG_BYTES, StoreCipher
from services.referral.main import build_application
from services.referral.settings import ReferralSettings

TraceFunction = Callable[[FrameType, str, Any], Any]


def environment(key: str) -> Environment:
    return Environment(env={"CIPHER_KEY": key})


def test_the_library_reads_what_it_encrypts_and_it_reads_the_library() -> None:
    key = AESCipher.create_key(32)
    ours, library = StoreCipher(environment(key)), AESCipher(environment(key))
    plaintext = b'{"kind":"at_risk"}'
    sealed = ours.encrypt(plaintext)
    assert len(sealed) == NONCE_BYTES + TAG_BYTES + len(plaintext)  # nonce, tag, ciphertext: the library's form
    assert library.decrypt(sealed) == plaintext
    assert ours.decrypt(library.encrypt(plaintext)) == plaintext
    assert ours.encrypt(plaintext) != sealed  # a new nonce each time


def test_a_thousand_events_read_the_os_random_source_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    urandom = os.urandom

    def counted(size: int) -> bytes:
        reads.append(size)
        return urandom(size)

    monkeypatch.setattr(os, "urandom", counted)
    monkeypatch.setattr(cipher, "_nonces", iter(()))  # no block drawn yet
    store = StoreCipher(environment(AESCipher.create_key(16)))
    for _ in range(NONCES_DRAWN):
        store.encrypt(b"flag")
    assert reads == [NONCE_BYTES * NONCES_DRAWN]
    store.encrypt(b"flag")
    assert len(reads) == 2


def test_nonces_are_never_handed_out_twice_across_threads() -> None:
    drawn: list[list[bytes]] = [[] for _ in range(4)]

    def draw(into: list[bytes]) -> None:
        into.extend(cipher.draw_nonce() for _ in range(NONCES_DRAWN * 3 + 7))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch within the drawing, not only between one thread's draws
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    every = [n for into in drawn for n in into]
    assert all(len(n) == NONCE_BYTES for n in every)
    assert len(set(every)) == len(every)


def test_a_nonce_drawn_while_another_is_being_drawn_differs() -> None:
    """What a signal handler or a finaliser drawing a nonce would do: a draw at every line of another draw."""
    inner: list[bytes] = []

    def at_each_line(frame: FrameType, event: str, arg: object) -> TraceFunction | None:
        if event == "line":
            inner.append(cipher.draw_nonce())  # not traced itself: the tracer runs with tracing off
        return at_each_line

    def calls(frame: FrameType, event: str, arg: object) -> TraceFunction | None:
        return at_each_line if frame.f_code is cipher.draw_nonce.__code__ else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        outer = [cipher.draw_nonce() for _ in range(NONCES_DRAWN * 2)]
    finally:
        sys.settrace(previous)
    every = outer + inner
    assert inner
    assert len(set(every)) == len(every)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_does_not_reuse_its_parents_nonces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cipher, "_nonces", iter(()))
    cipher.draw_nonce()  # a block drawn, with nonces left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: hands its first nonce to the parent
        try:
            os.write(write, cipher.draw_nonce())
        finally:
            os._exit(0)
    os.close(write)
    try:
        childs = os.read(read, NONCE_BYTES)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert len(childs) == NONCE_BYTES
    assert childs != cipher.draw_nonce()  # what the parent hands out next


def test_the_services_stores_encrypt_with_it(tmp_path: Path) -> None:
    settings = ReferralSettings(var_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'referral.db'}")
    with build_application(settings) as app:
        assert isinstance(app.mapper.cipher, StoreCipher)
