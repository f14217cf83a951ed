"""Make text safe to show on a terminal: control characters, escape sequences and bidirectional overrides in
user data (a lock reason, an imported service name, a finding's title) become visible escapes such as ``\\x1b``,
so nobody can clear an operator's screen or forge a line of output."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; lone surrogates; Unicode format characters that reorder or hide text (bidi
# embeddings, overrides and isolates, marks, the byte-order mark, interlinear annotations); line and paragraph
# separators. Zero-width (non-)joiners stay: emoji and several scripts need them.
_OTHERS = "\x7f-\x9f\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
_UNSAFE_LINE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_UNSAFE_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # keeps tab (\x09) and newline (\x0a)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}
# in JSON text every C0 control is already escaped by json.dumps; these are the ones it leaves raw
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """One line of printable text: every control character (newlines too) shown as an escape."""
    if text.isprintable():
        return text
    return _UNSAFE_LINE.sub(_escape, text)


def printable_text(text: str) -> str:
    """Printable text that may span lines: newlines and tabs stay, every other control character is escaped."""
    if text.isprintable():
        return text
    return _UNSAFE_TEXT.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text with the characters ``json.dumps(ensure_ascii=False)`` leaves raw (DEL, C1 controls, line
    separators, bidi overrides) written as ``\\uXXXX`` escapes: the same JSON value, safe on a terminal."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
