"""Rebuild the mn-Mong catalogues from docs/mongolian/transliteration.json.

Every traditional Mongolian string of the web UI is written first in a Latin
transliteration of classical Mongolian (easy to read and correct), then
converted letter by letter to Unicode Mongolian script by this table. A native
speaker reviews and corrects transliteration.json and runs:

    python docs/mongolian/convert.py

Conventions: N = ng (ᠩ), γ and g = ᠭ, q and k = ᠬ, č ǰ š, '-' = narrow no-break
space before a suffix (U+202F), '_' = Mongolian vowel separator before a detached
final a/e (U+180E), `…` = kept as is (Latin words, Chinese), {name} = placeholder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

LETTERS = {
    "a": "\u1820", "e": "\u1821", "i": "\u1822", "o": "\u1823", "u": "\u1824", "ö": "\u1825",
    "ü": "\u1826", "n": "\u1828", "N": "\u1829", "b": "\u182a", "p": "\u182b", "q": "\u182c",
    "k": "\u182c", "γ": "\u182d", "g": "\u182d", "m": "\u182e", "l": "\u182f", "s": "\u1830",
    "š": "\u1831", "t": "\u1832", "d": "\u1833", "č": "\u1834", "ǰ": "\u1835", "y": "\u1836",
    "r": "\u1837", "w": "\u1838", "f": "\u1839", "h": "\u183e", "z": "\u183d", "c": "\u183c",
    "-": "\u202f", "_": "\u180e", ",": "\u1802", ".": "\u1803",
}
KEEP = re.compile(r"(\{\w+\}|`[^`]*`)")
I18N = Path(__file__).resolve().parents[2] / "clients" / "web" / "i18n"


def convert(text: str) -> str:
    out = []
    for part in KEEP.split(text):
        if part.startswith("{"):
            out.append(part)
        elif part.startswith("`"):
            out.append(part[1:-1])
        else:
            out.append("".join(LETTERS.get(ch, ch) for ch in part))
    return "".join(out)


def main() -> None:
    source = json.loads((Path(__file__).parent / "transliteration.json").read_text("utf-8"))
    for name, strings in source.items():
        path = I18N / name
        text = json.dumps({k: convert(v) for k, v in strings.items()}, ensure_ascii=False,
                          indent=2)
        path.write_text(text + "\n", "utf-8")
        print(f"{path.relative_to(I18N)}: {len(strings)} strings")


if __name__ == "__main__":
    main()
