"""Accessibility checks on rendered HTML, shared by the page tests and the browser tests.

Checks what can be checked mechanically and matters most for NHS users: one h1, headings in order, every
form control labelled, every image/SVG with a text alternative. Contrast is checked on the NHS.UK palette
the pages and charts use (WCAG 2.2: 4.5:1 for text, 3:1 for graphics).
"""

from __future__ import annotations

from html.parser import HTMLParser

_CONTROLS = {"input", "select", "textarea"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[int] = []
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.label_depth = 0
        self.images: list[dict[str, str]] = []
        self.svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self.label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in _CONTROLS and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append({**a, "_wrapped": "1" if self.label_depth else ""})
        elif tag == "img":
            self.images.append({**a, "_kind": "img"})
        elif tag == "svg":
            if self.svg_depth == 0:
                self.images.append({**a, "_kind": "svg", "_title": ""})
            self.svg_depth += 1
        elif tag == "title" and self.svg_depth:
            self.images[-1]["_title"] = "1"

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth -= 1
        elif tag == "svg":
            self.svg_depth -= 1


def problems(html: str) -> list[str]:
    """Accessibility problems found in a page (empty when it passes)."""
    c = _Collector()
    c.feed(html)
    out: list[str] = []
    if c.headings.count(1) != 1:
        out.append(f"expected one h1, found {c.headings.count(1)}")
    for prev, cur in zip(c.headings, c.headings[1:], strict=False):
        if cur > prev + 1:
            out.append(f"heading jumps from h{prev} to h{cur}")
    for ctl in c.controls:
        named = ctl.get("id") in c.label_for or ctl["_wrapped"] or ctl.get("aria-label") or ctl.get("aria-labelledby")
        if not named:
            out.append(f"form control without a label: name={ctl.get('name')!r}")
    for img in c.images:
        if img["_kind"] == "img":
            ok = "alt" in img
        else:
            named = img.get("aria-label") or img.get("aria-labelledby") or img["_title"]
            ok = img.get("aria-hidden") == "true" or (img.get("role") == "img" and bool(named))
        if not ok:
            out.append(f"{img['_kind']} without a text alternative (class={img.get('class', '')!r})")
    return out


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio between two sRGB colours given as #rrggbb."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
