"""The interactive page's speed, run by hand: python benchmarks/bench_page.py [STEPS] [--runs N] [--against DIR]

Starts ``run.py serve`` on a free port and drives Debian's chromium with Playwright (as tests/test_browser.py does):
the time until the port listens, until the first page shows its charts (the cold start a planner waits: the browser
is launched before the server starts, as a planner's is open, and its launch is timed apart), and for
each of STEPS steps (default 10) the time until the new year and the redrawn chart are shown, measured two ways:

- in the page: the browser's clock from the click on *Step* to the first frame painted after the new year and the
  new chart are in the page (a MutationObserver notes both; the click is the button's own ``click()``). This is what
  a planner waits.
- by Playwright: wall time of its click (which first waits until the button has been stable for two animation
  frames, about 35 ms, before clicking) and of its polls for the year's text and the chart. This adds the test
  driver's own waits.

Prints the median and range of both. The goals (issue 23) are a cold start of at most 8 s and a step of at most
0.2 s at scale 0.05. ``--against DIR`` alternates each run with another checkout of the project (a ``git worktree``
of an older commit, its ``.venv`` linked to this one's) started from this same script, so that two versions are
compared in the same minutes of this drifting machine (docs/performance.md says why only such pairs compare).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-dev-shm-usage"]


# Clicks Step and resolves, in milliseconds of the browser's clock, when the first frame after both the new year's
# heading and a new indicator chart are in the page has been painted.
STEP_IN_PAGE = """(yearText) => new Promise((resolve) => {
  const chart = () => document.querySelector('img.migrasim-indicators').src;
  const heading = () => { const h = document.querySelector('.migrasim-year'); return h ? h.textContent.trim() : ''; };
  const before = chart();
  let year = false, img = false;
  const t0 = performance.now();
  const observer = new MutationObserver(() => {
    year = year || heading() === yearText;
    img = img || chart() !== before;
    if (year && img) {
      observer.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  document.querySelector('button.migrasim-step').click();
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(root: Path, steps: int) -> dict:
    """One cold start of ``root``'s ``run.py serve`` and ``steps`` steps, both ways; seconds.

    Parameters
    ----------
    root : a checkout of the project (its ``run.py`` is started with this interpreter, in that folder).
    steps : steps to time each way.

    Returns
    -------
    ``launch`` (the browser), ``listening`` and ``ready`` (from the server's start), ``in_page`` and ``polled`` (one
    time per step).
    """
    from playwright.sync_api import sync_playwright

    port = free_port()
    with sync_playwright() as p:
        # the planner's browser is open before the server starts: its launch is timed apart, not in the cold start
        t = time.perf_counter()
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        launch = time.perf_counter() - t
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(root / "run.py"), "serve", "--port", str(port)], cwd=root,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"{root}: run.py serve ended (exit {proc.returncode}) before it listened")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            listening = time.perf_counter() - t0
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=120000)
            page.wait_for_selector("img.migrasim-indicators", timeout=120000)
            ready = time.perf_counter() - t0
            polled, in_page = [], []
            for k in range(steps):  # the planner's wait, on the browser's clock
                in_page.append(page.evaluate(STEP_IN_PAGE, f"Year {2021 + k}") / 1000.0)
            page.get_by_role("button", name="Reset").click()
            page.wait_for_selector("text=Year 2020", timeout=60000)
            for k in range(steps):
                before = page.locator("img.migrasim-indicators").get_attribute("src")
                t = time.perf_counter()
                page.get_by_role("button", name="Step").click()
                page.wait_for_selector(f"text=Year {2021 + k}", timeout=60000)
                page.wait_for_function("(b) => document.querySelector('img.migrasim-indicators').src !== b", arg=before,
                                       timeout=60000)
                polled.append(time.perf_counter() - t)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            browser.close()
    return {"launch": launch, "listening": listening, "ready": ready, "in_page": in_page, "polled": polled}


def describe(m: dict) -> str:
    """One run's figures in a line."""
    in_page, polled = m["in_page"], m["polled"]
    return (f"port listening after {m['listening']:.1f} s; first page with charts after {m['ready']:.1f} s (cold start, "
            f"the browser already open; its launch took {m['launch']:.1f} s more, counted in the cold start before "
            f"2026-12-07); step, in the page (click to the frame showing the new year and chart): median "
            f"{statistics.median(in_page):.3f} s, range {min(in_page):.3f}-{max(in_page):.3f} s; by Playwright's click "
            f"and polls: median {statistics.median(polled):.2f} s, range {min(polled):.2f}-{max(polled):.2f} s "
            f"({len(in_page)} steps each)")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="The page's cold start and step (results go in docs/performance.md).")
    parser.add_argument("steps", nargs="?", type=int, default=10, help="steps timed each way (default 10)")
    parser.add_argument("--runs", type=int, default=1, help="cold starts of each checkout (default 1)")
    parser.add_argument("--against", type=Path, help="another checkout of the project (e.g. a git worktree of an "
                                                     "older commit) to alternate with")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.runs < 1:
        parser.error("steps and --runs must be at least 1")
    roots = {"this": ROOT}
    if args.against is not None:
        if not (args.against / "run.py").is_file():
            parser.error(f"--against {args.against}: no run.py there (expected a checkout of the project)")
        roots["against"] = args.against.resolve()
    results: dict[str, list[dict]] = {name: [] for name in roots}
    for run in range(1, args.runs + 1):
        for name, root in roots.items():
            m = measure(root, args.steps)
            results[name].append(m)
            print(f"{name:8} run {run}: {describe(m)}", flush=True)
    for name, runs in results.items():
        ready = [m["ready"] for m in runs]
        steps = [statistics.median(m["in_page"]) for m in runs]
        print(f"{name}: cold start median {statistics.median(ready):.1f} s (range {min(ready):.1f}-{max(ready):.1f}); "
              f"step medians {', '.join(f'{x:.3f}' for x in steps)} s; goals <= 8 s and <= 0.2 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
