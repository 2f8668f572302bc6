"""The bytes of a text input (CSV, scenario YAML) as ``str``, or why they are not UTF-8 text.

Both readers need the same answer for the same mistakes: a file saved as UTF-16
(with a byte-order mark, or without one, when every other byte is NUL), a legacy
8-bit encoding such as Latin-1, or binary data given where text belongs. Each is
reported with the line of the first offending byte, so the message can name it.
"""

from __future__ import annotations

import codecs
import re

# Characters no text value holds: the C0 controls that XML (so no .xlsx) allows nowhere,
# DEL and the C1 controls. In an input they are damage (binary junk, a flipped bit);
# echoed to a console they act as terminal escapes. Tab and line breaks are text.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Every byte but those of the C0 controls and DEL, and 0xC2, which leads the UTF-8 of
# the C1 controls (U+0080-U+009F) as well as of harmless characters (U+00A0-U+00BF).
_PLAIN_BYTES = bytes(
    b for b in range(256) if b != 0xC2 and (b > 0x7F or not CONTROL_CHARACTER.match(chr(b)))
)

# UTF-32 LE's mark begins with UTF-16 LE's, so the longer marks are tried first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class NotText(ValueError):
    """Why some bytes are not UTF-8 text; ``line`` (1-based) is where, when known."""

    def __init__(self, reason: str, line: int | None = None):
        self.reason = reason
        self.line = line
        super().__init__(reason)


def decode_utf8(raw: bytes) -> str:
    """``raw`` as text: UTF-8, with or without a byte-order mark (which is dropped).

    Raises ``NotText`` for a UTF-16/32 file, a byte that is not UTF-8, or a NUL
    character (which no spreadsheet or editor writes into UTF-8 text).
    """
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise NotText(f"is {name} text, not UTF-8")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise NotText(f"byte 0x{raw[err.start]:02x} is not UTF-8 text", line) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise NotText("contains NUL characters (UTF-16 text without a byte-order mark?)", line)
    return text


def has_control_character(raw: bytes, text: str) -> bool:
    """Whether ``text`` (``raw`` decoded as UTF-8) holds a ``CONTROL_CHARACTER``: the
    bytes are sieved at C speed (tens of ms for 30 MB, a regex over the text takes ten
    times longer); only a file with a byte 0xC2 in it has its text searched."""
    left = raw.translate(None, _PLAIN_BYTES)
    if not left:
        return False
    if left.strip(b"\xc2"):  # a C0 control or DEL
        return True
    return CONTROL_CHARACTER.search(text) is not None
