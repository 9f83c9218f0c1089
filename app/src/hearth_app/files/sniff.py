"""Content-type sniffing from magic bytes: what the file is, not what the client said."""

from __future__ import annotations

_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x7fELF", "application/x-executable"),
    (b"MZ", "application/x-msdownload"),
]


def sniff(head: bytes) -> str:
    for magic, ctype in _MAGIC:
        if head.startswith(magic):
            return ctype
    chunk = head[:4096]
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by our 4 KiB window is still text.
        if not (exc.reason == "unexpected end of data" and exc.start >= len(chunk) - 3):
            return "application/octet-stream"
    if b"\x00" in chunk:
        return "application/octet-stream"
    return "text/plain"
