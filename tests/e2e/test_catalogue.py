"""The message catalogues: same keys in every language, every key the pages use exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

from server.db.models import ClassroomKind, LessonState, Role, UnitLevel

WEB = Path(__file__).resolve().parents[2] / "clients" / "web"


def _catalogues() -> dict[str, dict[str, str]]:
    """Each language's main catalogue merged with its parts (i18n/parts/<part>.<lang>.json)."""
    cats = {p.stem: json.loads(p.read_text("utf-8")) for p in (WEB / "i18n").glob("*.json")}
    for part in (WEB / "i18n" / "parts").glob("*.json"):
        _name, lang = part.stem.split(".", 1)
        cats[lang].update(json.loads(part.read_text("utf-8")))
    return cats


def test_every_part_exists_in_every_language() -> None:
    parts = sorted((WEB / "i18n" / "parts").glob("*.json"))
    langs = {p.stem for p in (WEB / "i18n").glob("*.json")}
    names = {p.stem.split(".", 1)[0] for p in parts}
    for name in names:
        found = {p.stem.split(".", 1)[1] for p in parts if p.stem.startswith(name + ".")}
        assert found == langs, (name, found)


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    cats = _catalogues()
    assert {"zh-CN", "en"} <= set(cats)
    zh, en = cats["zh-CN"], cats["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    for key in zh:
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert zh[key].strip() and en[key].strip(), key


def test_every_key_used_by_the_pages_is_in_the_catalogue() -> None:
    zh = _catalogues()["zh-CN"]
    used: set[str] = set()
    for js in (WEB / "js").glob("*.js"):
        used |= set(re.findall(r"\bt\('([\w.-]+)'", js.read_text("utf-8")))
        used |= set(re.findall(r"'((?:media\.error|devices|classroom|teacher)\.[\w]+)'",
                               js.read_text("utf-8")))
    for html in WEB.glob("*.html"):
        used |= set(re.findall(r'data-i18n="([\w.-]+)"', html.read_text("utf-8")))
    # Keys built from server enums: every value needs its label.
    used |= {f"role.{r.value}" for r in Role}
    used |= {f"state.{s.value}" for s in LessonState}
    used |= {f"level.{u.value}" for u in UnitLevel}
    used |= {f"classroom.kind.{k.value}" for k in ClassroomKind}
    used |= {f"clash.{r}" for r in ("teacher", "main_classroom", "receiving_classroom")}
    used |= {f"quality.{q}" for q in ("good", "fair", "poor", "idle", "unknown")}
    missing = sorted(k for k in used if k not in zh and not k.startswith("tongbu."))
    assert not missing, missing
    assert len(used) > 150


def test_traditional_mongolian_covers_the_main_catalogue_and_every_part() -> None:
    """mn-Mong (issue 9): every key of zh-CN, main catalogue and parts, same placeholders."""
    main_zh = json.loads((WEB / "i18n" / "zh-CN.json").read_text("utf-8"))
    main_mn = json.loads((WEB / "i18n" / "mn-Mong.json").read_text("utf-8"))
    assert set(main_mn) == set(main_zh), set(main_mn) ^ set(main_zh)
    for part in (WEB / "i18n" / "parts").glob("*.zh-CN.json"):
        mn_part = part.with_name(part.name.replace(".zh-CN.", ".mn-Mong."))
        assert mn_part.is_file(), f"{mn_part.name} is missing"
        zh_keys = set(json.loads(part.read_text("utf-8")))
        mn_keys = set(json.loads(mn_part.read_text("utf-8")))
        assert mn_keys == zh_keys, (mn_part.name, zh_keys ^ mn_keys)
    cats = _catalogues()
    zh, mn = cats["zh-CN"], cats["mn-Mong"]
    for key, text in zh.items():
        assert mn.get(key, "").strip(), key
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", mn[key])), key
    # Written in the Mongolian script (U+1800–U+18AF), not left in Chinese.
    mongolian = sum(1 for v in mn.values() if re.search("[\u1820-\u18af]", v))
    assert mongolian >= 0.95 * len(mn)
    i18n_js = (WEB / "js" / "i18n.js").read_text("utf-8")
    assert "'mn-Mong'" in re.search(r"export const LANGS = \[([^\]]*)\]", i18n_js).group(1)  # type: ignore[union-attr]
