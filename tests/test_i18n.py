"""Simplified Chinese by default; English when the user picks it; the catalog is complete."""
from __future__ import annotations

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import PROJECT


def test_pages_are_chinese_by_default_and_english_on_request(people, login, client):
    login("reviewer")
    page = client.get("/inbox").data.decode()
    assert "我的待办" in page and 'lang="zh-CN"' in page
    response = client.post("/lang/en", data={"next": "/inbox?scope=candidate"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox?scope=candidate")
    page = client.get("/inbox").data.decode()
    assert "My tasks" in page and "Group tasks" in page and 'lang="en"' in page
    client.post("/lang/zh_CN", data={"next": "/inbox"})
    assert "我的待办" in client.get("/inbox").data.decode()


def test_an_unknown_language_is_ignored(people, login, client):
    login("reviewer")
    client.post("/lang/xx", data={"next": "/inbox"})
    assert "我的待办" in client.get("/inbox").data.decode()


def test_the_english_catalog_translates_every_message_and_is_compiled():
    po = PROJECT / "app/translations/en/LC_MESSAGES/messages.po"
    mo = po.with_suffix(".mo")
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    untranslated = [m.id for m in catalog if m.id and not m.string]
    assert untranslated == []
    with mo.open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled == {m.id: m.string for m in catalog if m.id}, "run: pybabel compile -d app/translations"


def test_no_template_text_escapes_translation():
    """Every Chinese string in a template goes through _() (the language switcher's own name aside)."""
    import re
    cjk = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
    leftovers = []
    for path in sorted((PROJECT / "app").rglob("templates/**/*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = re.sub(r"_\('[^']*'", "", line).replace("'中文'", "")
            if cjk.search(stripped):
                leftovers.append(f"{path.relative_to(PROJECT)}:{number}: {line.strip()}")
    assert leftovers == []
