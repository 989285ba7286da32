"""The IDE in a real browser: ``leoflow lite`` in a subprocess (its own LEOFLOW_HOME and
workspace in a temporary folder, any free port), driven by Playwright in Debian's Chromium.

Playwright's own browsers are not downloaded: the suite uses the system's ``chromium``
(``apt-get install chromium``; ``LEOFLOW_CHROMIUM`` points elsewhere) and is skipped when
there is none. Screenshots go to a temporary folder, or into ``docs/screenshots/`` with
``LEOFLOW_UPDATE_SCREENSHOTS=1`` (that is how the documentation's pictures are made).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Third-party packages only: Playwright (dev extra) drives the browser, nicegui (the lite
# extra) serves the IDE; without them the suite cannot run. Leoflow's own modules are
# imported plainly below, so an import error in them fails the suite instead of skipping it.
pytest.importorskip("playwright.sync_api", reason="pip install .[dev] (Playwright)")
pytest.importorskip("nicegui", reason="the IDE needs the lite extra: pip install .[lite]")

from playwright.sync_api import Browser, Page, expect, sync_playwright

import leoflow.app.lite  # noqa: F401  (the IDE's entry point must import, or fail here)

expect.set_options(timeout=15_000)  # a CI machine building environments is slow at times

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 120.0
VIEWPORT = {"width": 1440, "height": 900}


def chromium_path() -> str | None:
    candidates = [os.environ.get("LEOFLOW_CHROMIUM"), shutil.which("chromium"),
                  shutil.which("chromium-browser"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@dataclass
class LiteServer:
    url: str
    password: str
    home: Path
    workspace: Path
    process: subprocess.Popen[bytes]
    output: Path

    def log(self) -> str:
        return self.output.read_text("utf-8", errors="replace")

    def command(self, *args: str) -> str:
        """Run another ``leoflow`` command against the same Lite home; its output."""
        result = subprocess.run([sys.executable, "-c", LAUNCH, *args], env=self.env(),
                                capture_output=True, text=True, timeout=60, check=True)
        return result.stdout

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
        env.update(LEOFLOW_HOME=str(self.home), PYTHONUNBUFFERED="1")
        return env


LAUNCH = "import sys; from leoflow.app.cli import main; sys.exit(main())"


def _wait_for(server: LiteServer, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, server.log())
        if found:
            return found
        if server.process.poll() is not None:
            raise RuntimeError(f"leoflow lite exited ({server.process.returncode}):\n"
                               f"{server.log()[-4000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"no {pattern!r} in the output of leoflow lite within {timeout:g} s:\n"
                       f"{server.log()[-4000:]}")


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and every asyncio test after it would then fail.
@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteServer]:
    """A Lite started the way a user starts it; stopped with Ctrl-C (SIGINT) at the end."""
    base = tmp_path_factory.mktemp("lite")
    home, workspace, output = base / ".leoflow", base / "leoflow", base / "lite.log"
    server = LiteServer("", "", home, workspace, None, output)  # type: ignore[arg-type]
    with open(output, "wb") as sink:
        server.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "lite", "--no-browser", "--port", "0",
             "--workspace", str(workspace)], env=server.env(), stdout=sink,
            stderr=subprocess.STDOUT, cwd=base)
    try:
        ready = _wait_for(server, r"is ready in [\d.]+ s: (http://127\.0\.0\.1:\d+)",
                          START_TIMEOUT)
        server.url = ready.group(1)
        server.password = _wait_for(server, r"password\s+(\S+)", 5).group(1)
        _wait_for(server, r"projects registered from", START_TIMEOUT)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGINT)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(10)


# What a server must never print while a person uses it: an exception NiceGUI logged from an
# event handler ("The parent element this slot belongs to has been deleted", raised by a
# notification from a closed dialog, was one), any other traceback, or an ERROR line.
SERVER_PROBLEMS = re.compile(
    r"Traceback \(most recent call last\)|\bERROR\b|\bCRITICAL\b"
    r"|The parent element this slot belongs to has been deleted", re.MULTILINE)


def server_problems(text: str) -> list[str]:
    """The lines of ``text`` (a server's output) that report an exception, with context."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if SERVER_PROBLEMS.search(line):
            found.append("\n".join(lines[max(0, number - 2):number + 12]))
    return found


@pytest.fixture(autouse=True)
def no_server_exception(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any journey during which its Lite logged an exception or a traceback.

    Every test that uses the ``lite`` fixture gets this check: the output the server wrote
    while the test ran is read after it (and after a short pause, so an exception raised by
    the test's last click is seen)."""
    if "lite" not in request.fixturenames:
        yield
        return
    server: LiteServer = request.getfixturevalue("lite")
    start = len(server.log())
    yield
    time.sleep(0.5)
    problems = server_problems(server.log()[start:])
    if problems:
        pytest.fail("the Lite server logged an exception during this journey:\n\n"
                    + "\n---\n".join(problems[:5]), pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no system Chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


SCRUB = """base => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.nodeValue.includes(base)) node.nodeValue = node.nodeValue.split(base).join('~');
    }
}"""


def screenshot(page: Page, lite: LiteServer, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of the page: into docs/screenshots with LEOFLOW_UPDATE_SCREENSHOTS=1.

    Lite's files live in a temporary folder laid out like a user's home (``.leoflow``,
    ``leoflow``); on the picture that folder reads ``~``, so no machine's paths show."""
    update = os.environ.get("LEOFLOW_UPDATE_SCREENSHOTS") == "1"
    folder = SCREENSHOTS if update else lite.home.parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.mouse.move(1, 1)  # no tooltip under the pointer
    page.evaluate(SCRUB, str(lite.home.parent))
    if update:  # documentation pictures without a passing notification over them
        page.locator(".q-notification").first.wait_for(state="detached", timeout=8_000)
    page.wait_for_timeout(400)  # let animations settle
    page.screenshot(path=str(path), full_page=full_page)
    return path


def log_in(page: Page, lite: LiteServer, *, password: str | None = None,
           path: str = "/dags") -> None:
    page.goto(lite.url + path)
    page.locator("[data-testid=login-username]").fill("admin")
    page.locator("[data-testid=login-password]").fill(password or lite.password)
    page.locator("[data-testid=login-submit]").click()
