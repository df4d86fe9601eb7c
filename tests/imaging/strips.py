"""Valid PNGs of any size that compress to a few KB: thin strips and large 16-bit squares."""

from __future__ import annotations

import struct
import zlib


def strip_png(width: int, height: int, bits: int = 8) -> bytes:
    """A valid grey PNG of width × height (all black), compressed to a few KB whatever its size."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    row = b"\0" + bytes(width * bits // 8)
    packer = zlib.compressobj(9)
    rows_per_piece = max(1, (1 << 20) // len(row))
    idat = b"".join(
        packer.compress(row * min(rows_per_piece, height - top)) for top in range(0, height, rows_per_piece)
    )
    idat += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
