"""Headless Chromium through selenium, for the web UI's browser tests and screenshots.

Debian's `chromium` and `chromium-driver`; the driver is given by path (selenium-manager
never downloads one). The flags keep Chromium off the network: this machine has none, and
without them Chromium waits on lookups for its background services.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


class Browser:
    """A Chromium session and the profile directory it owns; `quit()` removes both."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager: no downloads
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="wfobj-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self.profile}",
                     f"--window-size={width},{height}"):
            options.add_argument(flag)
        try:
            self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(60)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def browser_or_reason() -> tuple[Browser | None, str | None]:
    """A started Browser, or why there is none."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return None, f"{path} is missing; apt-get install chromium chromium-driver"
    try:
        return Browser(), None
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable browser"
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


# Run in the page; returns a list of problems (empty when the page passes). Checks what a
# screen reader and a keyboard user rely on, and WCAG AA contrast of every visible text.
A11Y_AUDIT = r"""
const problems = [];
const visible = el => { const r = el.getBoundingClientRect();
  return r.width > 1 && r.height > 1 && r.right > 0 && r.left < innerWidth + 2000 &&
         getComputedStyle(el).visibility !== 'hidden'; };
const name = el => (el.getAttribute('aria-label') || el.textContent || el.title || '').trim();
if (!document.documentElement.lang) problems.push('no lang on <html>');
if (!document.title.trim()) problems.push('no <title>');
if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
let level = 0;
document.querySelectorAll('h1,h2,h3,h4,h5,h6').forEach(h => {
  const n = +h.tagName[1];
  if (n > level + 1) problems.push('heading skips a level: ' + h.tagName + ' ' + name(h));
  level = n; });
for (const sel of ['header', 'main', 'footer'])
  if (document.querySelectorAll(sel).length !== 1) problems.push('landmark count: ' + sel);
document.querySelectorAll('nav').forEach(n => {
  if (!n.getAttribute('aria-label')) problems.push('nav without aria-label');
  if (!n.querySelector('a[href]')) problems.push('empty nav ' + n.getAttribute('aria-label')); });
document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(el => {
  if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
      !el.getAttribute('aria-labelledby')) problems.push('unlabelled control ' + el.outerHTML); });
document.querySelectorAll('a, button').forEach(el => {
  if (!name(el)) problems.push('control without a name: ' + el.outerHTML.slice(0, 120)); });
document.querySelectorAll('a[href]').forEach(el => {
  if (el.tabIndex < 0) problems.push('link out of the tab order: ' + name(el)); });
document.querySelectorAll('table').forEach(t => {
  if (!t.querySelector('th')) problems.push('table without header cells'); });
document.querySelectorAll('[id]').forEach(el => {
  if (document.querySelectorAll('#' + CSS.escape(el.id)).length > 1)
    problems.push('duplicate id ' + el.id); });
const rgb = c => { const m = c.match(/[\d.]+/g).map(Number); return m.length > 3 ? m : [...m, 1]; };
const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
  return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05); };
const background = el => { for (; el; el = el.parentElement) {
  const c = rgb(getComputedStyle(el).backgroundColor); if (c[3] > 0) return c; }
  return [255, 255, 255, 1]; };
document.querySelectorAll('body *:not(svg *)').forEach(el => {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || !visible(el) || el.closest('.visually-hidden')) return;
  const style = getComputedStyle(el);
  const size = parseFloat(style.fontSize), bold = +style.fontWeight >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  const got = ratio(rgb(style.color), background(el));
  if (got < needed) problems.push('contrast ' + got.toFixed(2) + ' < ' + needed + ': ' +
                                  el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '"'); });
document.querySelectorAll('svg g.node').forEach(g => {
  const fill = rgb(getComputedStyle(g.querySelector('rect')).fill);
  g.querySelectorAll('text').forEach(t => { const got = ratio(rgb(getComputedStyle(t).fill), fill);
    if (got < 4.5) problems.push('DAG text contrast ' + got.toFixed(2) + ': ' + t.textContent); });
  if (!g.querySelector('a[href]')) problems.push('DAG node not a link: ' + g.dataset.task); });
return problems;
"""
