"""Screenshots of the web UI for docs/ui.md, taken from a real run.

Starts `wfobj serve` on a temporary store (tests/support_e2e.py), applies and runs
examples/wordcount.yaml twice on examples/corpus.txt with real Docker (the second run reuses
the first from the cache) and a small fan-out (one instance failing, a gather skipped after
it, a task skipped by its condition), signs in through the login form in headless Chromium
(tests/support_browser.py) and saves PNGs of the main pages into docs/ui/.

    eval "$(bash scripts/ensure-docker.sh)"
    .venv/bin/python scripts/ui-screenshots.py [OUT_DIR]

Needs Debian's chromium and chromium-driver, and the test extra (selenium).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import blake3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support_browser import Browser  # noqa: E402
from tests.support_e2e import start_server, wait_terminal  # noqa: E402

WIDTH, MAX_HEIGHT, NARROW = 1200, 2200, 400


def call(server, method: str, path: str, **kw) -> dict:
    resp = requests.request(method, server.url + path, timeout=60,
                            headers={**server.h("runner"), **kw.pop("headers", {})}, **kw)
    resp.raise_for_status()
    return resp.json()


def run_wordcount(server) -> tuple[list[str], str]:
    """Two finished wordcount runs (the second from the cache) and the corpus hash."""
    call(server, "PUT", "/api/workflows/wordcount",
         data=(ROOT / "examples" / "wordcount.yaml").read_bytes(),
         headers={"Content-Type": "application/yaml"})
    data = (ROOT / "examples" / "corpus.txt").read_bytes()
    corpus = call(server, "POST", "/api/objects", data=data,
                  headers={"X-Wfobj-Hash": blake3.blake3(data).hexdigest()})["hash"]
    runs = []
    for _ in range(2):
        run_id = call(server, "POST", "/api/workflows/wordcount/trigger",
                      json={"parameters": {"corpus": corpus}})["run_id"]
        run = wait_terminal(server, run_id)
        if run["state"] != "success":
            raise SystemExit(f"run {run_id} ended {run['state']}:\n{server.log()}")
        runs.append(run_id)
    return runs, corpus


IMAGE = "wfobj/toolbox:local"
SAMPLES = [f"s{i}" for i in range(8)]
COHORT = {"on_failure": "continue",
          "params": {"samples": {"type": "list"}, "deep": {"type": "bool", "default": False}},
          "tasks": {
              "align": {"image": IMAGE, "for_each": {"param": "samples"},
                        "command": ["sh", "-c", "test {{item}} != s5 && echo {{item}} > /out/out.bam"],
                        "outputs": {"files": ["out.bam"]}},
              "merge": {"image": IMAGE, "command": ["sh", "-c", "cat /in/bams/*/out.bam > /out/all.bam"],
                        "inputs": {"bams": {"task": "align", "file": "out.bam"}},
                        "outputs": {"files": ["all.bam"]}},
              "deep": {"image": IMAGE, "command": ["true"], "when": "params.deep"},
              "qc": {"image": IMAGE, "command": ["sh", "-c", "echo ok"]}}}


def run_cohort(server) -> str:
    """The fan-out run: align ×8 with s5 failing, merge skipped after it, deep by condition."""
    call(server, "PUT", "/api/workflows/cohort", json=COHORT)
    run_id = call(server, "POST", "/api/workflows/cohort/trigger",
                  json={"parameters": {"samples": SAMPLES}})["run_id"]
    run = wait_terminal(server, run_id)
    if run["state"] != "failed":
        raise SystemExit(f"run {run_id} ended {run['state']}, not failed:\n{server.log()}")
    return run_id


def sign_in(driver, server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(server.url + "/ui/login")
    field = driver.find_element(By.ID, "token")
    field.send_keys(server.tokens["reader"])
    field.send_keys(Keys.ENTER)
    deadline = time.monotonic() + 30
    while "/ui/login" in driver.current_url and time.monotonic() < deadline:
        time.sleep(0.1)


def shoot(driver, url: str, out: Path, width: int = WIDTH) -> None:
    """The whole page (up to MAX_HEIGHT) at `width` CSS pixels."""
    driver.set_window_size(width, 900)
    driver.get(url)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height, MAX_HEIGHT))
    driver.save_screenshot(str(out))
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}  {url}")


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    server = start_server(Path(tempfile.mkdtemp(prefix="wfobj-ui-shots-")))
    try:
        (first, second), corpus = run_wordcount(server)
        cohort = run_cohort(server)
        words = next(f for f in call(server, "GET", f"/api/runs/{first}/files")
                     if f["path"] == "words.txt")
        browser = Browser(WIDTH, 900)
        try:
            driver = browser.driver
            shoot(driver, server.url + "/ui/login", out_dir / "login.png")
            sign_in(driver, server)
            pages = {"runs.png": "/ui/runs", "run.png": f"/ui/runs/{first}",
                     "run-cached.png": f"/ui/runs/{second}",
                     "attempt.png": f"/ui/runs/{first}/tasks/count",
                     "audit.png": f"/ui/runs/{first}/audit",
                     "file.png": f"/ui/files/{words['hash']}?name=words.txt",
                     "run-fanout.png": f"/ui/runs/{cohort}",
                     "fanout-instances.png": f"/ui/runs/{cohort}/tasks/align"}
            for name, path in pages.items():
                shoot(driver, server.url + path, out_dir / name)
            shoot(driver, server.url + f"/ui/runs/{first}", out_dir / "run-narrow.png", NARROW)
        finally:
            browser.quit()
    finally:
        server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "ui")
