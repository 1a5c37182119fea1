"""Main journeys in a real browser (Debian chromium via Playwright), with screenshots and in-browser a11y checks.

Screenshots go to test-artifacts/screenshots/ (kept by CI). The server is uvicorn on a free port in a thread,
over the same small store and operational DB as the other web tests.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from carecommons.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

#: Runs in the page: problems a screen-reader or low-vision user would meet. Contrast uses the computed colours
#: of every element that directly holds text, against the first opaque background behind it.
A11Y_JS = r"""
() => {
  const out = [];
  const h1 = document.querySelectorAll('h1');
  if (h1.length !== 1) out.push(`h1 count ${h1.length}`);
  let prev = 0;
  for (const h of document.querySelectorAll('h1,h2,h3,h4,h5,h6')) {
    const lvl = +h.tagName[1];
    if (prev && lvl > prev + 1) out.push(`heading jump h${prev}->h${lvl}`);
    prev = lvl;
  }
  for (const el of document.querySelectorAll('input,select,textarea')) {
    if (['hidden','submit','button'].includes(el.type)) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      out.push(`unlabelled ${el.name}`);
  }
  for (const svg of document.querySelectorAll('svg')) {
    if (svg.closest('svg') !== svg) continue;
    if (svg.getAttribute('aria-hidden') === 'true') continue;
    const named = svg.getAttribute('aria-label') || svg.getAttribute('aria-labelledby') || svg.querySelector('title');
    if (svg.getAttribute('role') !== 'img' || !named) out.push(`svg without text alternative ${svg.getAttribute('class')}`);
  }
  for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) out.push('img without alt');
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bgOf = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || el.closest('.nhsuk-u-visually-hidden')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || el.getClientRects().length === 0) continue;
    const fg = rgb(st.color), bg = bgOf(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize), bold = +st.fontWeight >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(`contrast ${ratio.toFixed(2)} < ${need} on "${el.textContent.trim().slice(0, 30)}"`);
  }
  return out;
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(settings):
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run scripts/install-browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _check(page, name: str) -> None:
    _shot(page, name)
    assert page.evaluate(A11Y_JS) == [], name


def _sign_in(page, server: str, username: str, password: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_analyst_drills_from_london_to_a_practice(page, server, web_env):
    _sign_in(page, server, "analyst.london", web_env.password)
    page.get_by_label("Planning").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/dashboards/london")
    assert page.locator("h1").inner_text() == "London"
    assert "Analyst" in page.get_by_test_id("role-purpose").inner_text()
    _check(page, "analyst-1-london")
    for step, level in enumerate(("ics", "borough", "pcn", "practice"), start=2):
        link = page.locator("#children a").first
        name = link.inner_text()
        link.click()
        page.wait_for_url(f"**/dashboards/{level}/**")
        assert page.locator("h1").inner_text() == name
        _check(page, f"analyst-{step}-{level}")
    assert page.locator("nav.nhsuk-breadcrumb a").count() >= 4
    # The funnel is drawn into the page (warmed pages) or is an image of its own with alt text that the browser
    # loaded (pages built for the request): either way a chart a reader can see and a screen reader can name.
    inline = page.locator("#figure-funnel svg[role=img]").count()
    image = page.locator("#figure-funnel img.cc-chart")
    if not inline:
        assert image.count() == 1 and len(image.get_attribute("alt")) > 40
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())
    assert inline + image.count() == 1


def test_ig_lead_verifies_the_audit_chain(page, server, web_env):
    _sign_in(page, server, "ig.lead", web_env.password)
    page.wait_for_url("**/governance")
    _check(page, "ig-1-governance")
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/governance/audit")
    _check(page, "ig-2-audit")
    page.get_by_role("button", name="Verify the audit chain").click()
    assert "The audit chain is intact" in page.get_by_test_id("verify-result").inner_text()
    _check(page, "ig-3-verified")


def test_public_transparency_page(page, server):
    page.goto(f"{server}/")
    page.wait_for_url("**/transparency")
    assert page.locator("h1").inner_text() == "How your GP record is used"
    assert page.locator("#public-agreements tbody tr").count() >= 1
    _check(page, "public-transparency")


def test_clinician_searches_the_consultation_reference(page, server, web_env):
    gp = next(u for u, (role, _) in web_env.users.items() if role == "gp")
    _sign_in(page, server, gp, web_env.password)
    page.wait_for_url("**/symptoms")
    page.get_by_label("Search symptoms").fill("chest pain")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/symptoms?q=chest+pain*")
    first = page.locator("#results a").first
    assert first.inner_text().lower().startswith("chest pain")
    _check(page, "gp-1-search")
    first.click()
    page.wait_for_url("**/symptoms/chest-pain*")
    assert page.locator("#red-flags li").count() >= 1
    assert page.locator("#references a").count() >= 1
    _check(page, "gp-2-symptom")
