"""Framed bodies (docs/format.md, section 5): constant-memory encryption of streams.

Buffers are allocated once per stream and reused (``encrypt_into``/``decrypt_into``), so memory
stays at about two frames whatever the stream's size.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tigerseal.envelope._format import MAX_FRAMES, TAG_SIZE, Header, nonce
from tigerseal.errors import DecryptionError, EncryptionError, TrailingDataError

__all__ = [
    "Prefixed",
    "check_layout",
    "decrypt_body",
    "decrypt_frames",
    "encrypt_frames",
    "read_up_to",
]


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _readinto_full(src: _Readable, view: memoryview) -> int:
    """Fill ``view`` from ``src`` (pipes return short reads); return bytes read (< len at EOF)."""
    got = 0
    size = len(view)
    readinto = getattr(src, "readinto", None)
    while got < size:
        if readinto is not None:
            n = readinto(view[got:])
            if not n:
                break
        else:
            chunk = src.read(size - got)
            if not chunk:
                break
            n = len(chunk)
            view[got : got + n] = chunk
        got += n
    return got


def read_up_to(src: _Readable, n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at end of stream."""
    buf = bytearray(n)
    got = _readinto_full(src, memoryview(buf))
    del buf[got:]
    return bytes(buf)


class Prefixed:
    """A reader that returns ``prefix`` first, then reads from ``src``."""

    def __init__(self, prefix: bytes, src: _Readable) -> None:
        self._prefix = memoryview(prefix)
        self._src = src

    def readinto(self, view: memoryview) -> int:
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        readinto = getattr(self._src, "readinto", None)
        if readinto is not None:
            return int(readinto(view))
        chunk = self._src.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            return bytes(self._prefix) + self._src.read()
        buf = bytearray(n)
        got = self.readinto(memoryview(buf))
        return bytes(buf[:got])


def encrypt_frames(src: _Readable, dst: BinaryIO, key: bytes, aad: bytes, frame_size: int) -> int:
    """Write the framed body of ``src``; return the plaintext length."""
    aes = AESGCM(key)
    buf = bytearray(frame_size)
    view = memoryview(buf)
    out = bytearray(frame_size + TAG_SIZE)
    full_len = frame_size.to_bytes(4, "big")
    seq = total = 0
    while True:
        n = _readinto_full(src, view)
        if seq >= MAX_FRAMES:
            raise EncryptionError("the stream exceeds 2^32 frames; use a larger frame size")
        if n == frame_size:
            aes.encrypt_into(nonce(seq, False), view, aad, out)
            dst.write(full_len)
            dst.write(out)
        else:
            dst.write(n.to_bytes(4, "big"))
            dst.write(aes.encrypt(nonce(seq, True), view[:n], aad))
            return total + n
        total += n
        seq += 1


# Buffers allocated before any data arrives are at most this large (the default frame size);
# beyond it they grow only as ciphertext actually arrives, so a message that merely declares
# 64 MiB frames cannot make the reader allocate 64 MiB.
_EAGER = 1024 * 1024


def _frame_error(seq: int, n: int, fs: int) -> DecryptionError:
    return DecryptionError(
        f"frame {seq} claims {n} bytes, more than the frame size {fs}: the stream is "
        "corrupted or was modified"
    )


def check_layout(body: bytes | memoryview, header: Header, complete: bool) -> None:
    """Check the body's framing against its length, before any key is unwrapped.

    ``body`` is the body, or (``complete=False``) its first bytes. This costs a few integer
    reads per frame and rejects a malformed body without a call to a key provider.

    Raises:
        DecryptionError: a frame length above the frame size, or a truncated body.
        TrailingDataError: data after the final frame (a ``DecryptionError``).
    """
    end = len(body)
    if header.frame_size == 0:
        if complete and end < TAG_SIZE:
            raise DecryptionError(
                "the message failed authentication: its body is shorter than a tag (truncated)"
            )
        return
    fs = header.frame_size
    pos = seq = 0
    while True:
        if pos + 4 > end:
            if complete:
                raise DecryptionError(
                    f"the stream is truncated: it ends after {seq} frames without a final frame"
                )
            return
        n = int.from_bytes(body[pos : pos + 4], "big")
        if n > fs:
            raise _frame_error(seq, n, fs)
        pos += 4 + n + TAG_SIZE
        if pos > end:
            if complete:
                raise DecryptionError(f"the stream is truncated inside frame {seq}")
            return
        seq += 1
        if n < fs:  # the final frame
            if complete and pos != end:
                raise TrailingDataError(
                    "data follows the final frame: the stream was extended or concatenated"
                )
            return


def decrypt_body(body: memoryview, header: Header, key: bytes) -> bytes:
    """Verify and decrypt a whole framed body held in memory (layout already checked).

    Decrypts in place from ``body`` (no staging buffers): memory is the plaintext itself.
    """
    try:
        aes = AESGCM(key)
        aad = header.aad
        fs = header.frame_size
        parts = []
        pos = seq = 0
        while True:
            n = int.from_bytes(body[pos : pos + 4], "big")
            final = n < fs
            try:
                parts.append(
                    aes.decrypt(nonce(seq, final), body[pos + 4 : pos + 4 + n + TAG_SIZE], aad)
                )
            except InvalidTag:
                raise DecryptionError(
                    f"frame {seq} failed authentication: the stream was modified, reordered, "
                    "truncated or had frames removed or duplicated"
                ) from None
            pos += 4 + n + TAG_SIZE
            seq += 1
            if final:
                return b"".join(parts)
    except BaseException:
        key = b""  # error reporters capture frame locals: leave no key behind
        parts = []
        raise


def _read_growing(src: _Readable, buf: bytearray, need: int) -> int:
    """Read ``need`` bytes into ``buf``, enlarging it only as data arrives (at most doubling).

    Returns the bytes read (fewer than ``need`` at end of stream).
    """
    got = 0
    while got < need:
        if got == len(buf):
            buf.extend(bytes(min(need, 2 * len(buf)) - len(buf)))
        with memoryview(buf) as whole:
            target = whole[got : min(need, len(buf))]
            n = _readinto_full(src, target)
            target.release()
        got += n
        if got < min(need, len(buf)):
            break
    return got


def decrypt_frames(src: _Readable, header: Header, key: bytes, dst: BinaryIO) -> int:
    """Verify and decrypt a framed body; return the plaintext length.

    Raises:
        DecryptionError: a frame failed authentication, or the stream was truncated or extended.
    """
    try:
        return _decrypt_frames(src, header, AESGCM(key), dst)
    except BaseException:
        key = b""  # error reporters capture frame locals: leave no key behind
        raise


def _decrypt_frames(src: _Readable, header: Header, aes: AESGCM, dst: BinaryIO) -> int:
    fs = header.frame_size
    aad = header.aad
    eager = min(fs, _EAGER)
    buf = bytearray(eager + TAG_SIZE)
    out = bytearray(eager)
    length = bytearray(4)
    seq = total = 0
    try:
        while True:
            if _readinto_full(src, memoryview(length)) != 4:
                raise DecryptionError(
                    f"the stream is truncated: it ends after {seq} frames without a final frame"
                )
            n = int.from_bytes(length, "big")
            if n > fs:
                raise _frame_error(seq, n, fs)
            final = n < fs
            need = n + TAG_SIZE
            if need <= len(buf):
                with memoryview(buf) as whole:
                    got = _readinto_full(src, whole[:need])
            else:
                got = _read_growing(src, buf, need)
            if got != need:
                raise DecryptionError(f"the stream is truncated inside frame {seq}")
            if not final and len(out) < n:
                out = bytearray(n)  # the whole frame arrived: now its plaintext buffer is justified
            with memoryview(buf) as whole:
                view = whole[:need]
                try:
                    if final:
                        dst.write(aes.decrypt(nonce(seq, True), view, aad))
                    else:
                        aes.decrypt_into(nonce(seq, False), view, aad, out)
                        dst.write(out)
                except InvalidTag:
                    raise DecryptionError(
                        f"frame {seq} failed authentication: the stream was modified, reordered, "
                        "truncated or had frames removed or duplicated"
                    ) from None
                finally:
                    view.release()
            total += n
            seq += 1
            if final:
                if src.read(1):
                    raise TrailingDataError(
                        "data follows the final frame: the stream was extended or concatenated"
                    )
                return total
    except BaseException:
        out = buf = bytearray()  # no verified plaintext in the traceback's frame locals
        raise
