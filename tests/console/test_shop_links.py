"""The console's "see it as a shopper" links: Similar items and Tuning link a product to its page in the demo
shop the console's API serves — the live config for everyone, the shared draft through a signed, expiring
token (a draft that differs from live shows its own ranking there; an altered token is refused)."""
from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from streamlit.testing.v1 import AppTest

from engine.merchandising.drafts import ConfigWorkflow
from engine.merchandising.strategies import set_default_strategy
from test_console_apptest import own_catalog

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120
LINK = re.compile(r"\[live config\]\((?P<live>[^)]+)\) · \[the draft\]\((?P<draft>[^)]+)\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _links(at: AppTest) -> tuple[str, str]:
    found = [m for md in at.markdown for m in [LINK.search(md.value)] if m]
    assert len(found) == 1, [md.value for md in at.markdown]
    return found[0]["live"], found[0]["draft"]


def test_similar_and_tuning_link_to_the_shop_with_the_live_config_or_the_draft(tmp_path, monkeypatch, luma_dir,
                                                                                console_data):
    photos = sorted((luma_dir / "media").rglob("*_main.jpg"))[:8]
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", [
        f"SHOP-{i},Shop item {i},{10 + i}.00,Shop/Items,{p}" for i, p in enumerate(photos)])
    port = _free_port()
    monkeypatch.setenv("VITRINA_API_PORT", str(port))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    desk = ConfigWorkflow(rt)
    other = next(s for s in rt.config.strategies if s != rt.config.default_strategy)
    desk.edit(lambda c: set_default_strategy(c, other), "tests", "a draft that ranks otherwise")

    at.switch_page("app_pages/similar.py").run()
    assert not at.exception, [e.value for e in at.exception]
    live, draft = _links(at)
    assert live.startswith(f"http://127.0.0.1:{port}/shop/product/SHOP-") and draft.startswith(live + "?preview=")
    public = httpx.get(live, timeout=30)
    assert public.status_code == 200 and "Draft preview" not in public.text and "data-preview" not in public.text
    preview = httpx.get(draft, timeout=30)
    assert preview.status_code == 200 and "Draft preview" in preview.text
    token = parse_qs(urlsplit(draft).query)["preview"][0]
    sku = urlsplit(live).path.rsplit("/", 1)[1]
    ranked = httpx.get(f"http://127.0.0.1:{port}/shop/preview/similar/", params={"product": sku, "token": token},
                       timeout=30).json()
    served = httpx.get(f"http://127.0.0.1:{port}/api/products/{sku}/similar/", timeout=30).json()
    assert (ranked["strategy"], served["strategy"]) == (other, rt.config.default_strategy)
    expected = rt.recommender(desk.draft().config).similar(sku, n=12)
    assert [i["sku"] for i in ranked["items"]] == [r.product.sku for r in expected]
    forged = httpx.get(draft[:-1] + ("0" if draft[-1] != "0" else "1"), timeout=30)
    assert forged.status_code == 400 and "not valid" in forged.text

    at.switch_page("app_pages/tuning.py").run()
    assert not at.exception, [e.value for e in at.exception]
    live, draft = _links(at)
    assert httpx.get(draft, timeout=30).status_code == 200 and "/shop/product/SHOP-" in live
    desk.discard("tests")
