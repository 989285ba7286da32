"""Attacks on a real ``leoflow lite`` from a real Chromium (docs/security.md, "Web and auth").

* A page served from another port of 127.0.0.1 tries to replace a DAG in the browser of a
  logged-in user, by a ``no-cors`` fetch and by an HTML form (both send ``text/plain``
  with the ``_token`` cookie, no preflight): refused, the DAG keeps its version. The same
  origin and API clients with a bearer header still push.
* ``next=/\\evil.example`` after logging in (the API's login page and the IDE's) stays on
  the server.
* A 100 MB body, declared or streamed, is refused with 413 while the server's peak memory
  barely moves (it grew by ~500 MB before the limit).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from leoflow.engine.spec.canonical import content_hash
from tests.e2e.browser.conftest import LiteServer, log_in

pytestmark = pytest.mark.slow

DAG_ID = "hello"
MB = 1024 * 1024


# -- helpers --------------------------------------------------------------------------------

class AttackerSite:
    """Pages served from another port of 127.0.0.1: another origin, the same site."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path, "not found").encode("utf-8")
                self.send_response(200 if self.path in site.pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def attacker() -> Iterator[AttackerSite]:
    site = AttackerSite()
    yield site
    site.close()


def admin_token(lite: LiteServer) -> str:
    answer = httpx.post(f"{lite.url}/auth/token",
                        json={"username": "admin", "password": lite.password}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


def versions(lite: LiteServer, token: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{lite.url}/api/leoflow/dags/{DAG_ID}/versions",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["versions"]


def current_spec(lite: LiteServer, token: str) -> dict[str, Any]:
    current = next(v for v in versions(lite, token) if v["is_current"])
    answer = httpx.get(f"{lite.url}/api/leoflow/dags/{DAG_ID}/versions/"
                       f"{current['version_number']}",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return answer.json()["spec"]


def replaced(spec: dict[str, Any], description: str) -> dict[str, Any]:
    """The DAG with another description: a new version if the server takes it."""
    document = {**spec, "description": description}
    document["content_hash"] = content_hash(document)
    return document


def browser_login(page: Page, lite: LiteServer, next_path: str = "/dags") -> None:
    """Sign in on the API's own login page (the one Airflow's UI sends the browser to)."""
    page.goto(f"{lite.url}/auth/login?next={next_path}")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(lite.password)
    page.locator("button[type=submit]").click()


def token_cookie(page: Page, timeout: float = 20.0) -> dict[str, Any]:
    """The ``_token`` cookie once the login has set it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in page.context.cookies() if c["name"] == "_token"]
        if found:
            return dict(found[0])
        page.wait_for_timeout(100)
    raise AssertionError("the login set no _token cookie")


def evil_trap(page: Page) -> list[str]:
    """Record any navigation to evil.example (and answer it, so nothing hangs)."""
    visits: list[str] = []

    def answer(route: Route) -> None:
        visits.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>evil</title>")

    page.context.route(re.compile(r"^https?://evil\.example"), answer)
    return visits


# -- 8. a page of another origin cannot push with the user's cookie --------------------------

def test_a_page_of_another_origin_cannot_replace_a_dag(
        page: Page, lite: LiteServer, attacker: AttackerSite) -> None:
    token = admin_token(lite)
    spec = current_spec(lite, token)
    before = versions(lite, token)

    browser_login(page, lite)
    cookie = token_cookie(page)
    page.wait_for_url(lambda url: "/auth/login" not in url)  # on to next=/dags
    page.wait_for_load_state("networkidle")
    script_sees_cookie = "_token" in page.evaluate("document.cookie")

    # 1) fetch(no-cors, text/plain): no preflight, the cookie goes along (same site)
    payload = json.dumps(replaced(spec, "replaced by a page of another origin"))
    attacker.pages["/fetch.html"] = f"""<!doctype html><title>cute cats</title><script>
      fetch({json.dumps(lite.url + '/api/leoflow/dags')}, {{method: "POST", mode: "no-cors",
        credentials: "include", headers: {{"Content-Type": "text/plain"}},
        body: {json.dumps(payload)}}})
        .then(() => document.title = "sent", () => document.title = "sent");
    </script>"""
    page.goto(attacker.url + "/fetch.html")
    expect(page).to_have_title("sent")

    # 2) an HTML form posting text/plain that parses as JSON
    form_doc = replaced(spec, "pwn=")
    text = json.dumps(form_doc)
    assert text.endswith("}")
    name = text[:-1] + ', "description": "pwn'  # name=value → ..."description": "pwn="}
    attacker.pages["/form.html"] = f"""<!doctype html><title>form</title>
      <form method="POST" enctype="text/plain"
            action={json.dumps(lite.url + '/api/leoflow/dags')}>
        <input type="hidden" name='{name.replace("'", "&#39;")}' value='"}}'></form>
      <script>document.forms[0].submit();</script>"""
    page.goto(attacker.url + "/form.html")
    page.wait_for_url(re.compile(re.escape(lite.url) + "/api/leoflow/dags"))
    assert "cross-site request refused" in page.content()

    page.wait_for_timeout(500)
    after = versions(lite, token)
    assert after == before, "a page of another origin registered a new version of the DAG"
    assert current_spec(lite, token)["description"] == spec["description"]
    # The session cookie itself: sent by the browser, never read by a script.
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not script_sees_cookie

    # The same origin still writes with the cookie (JSON, as Airflow's UI sends it)...
    page.goto(lite.url + "/auth/login")
    mine = replaced(spec, "changed from the server's own page")
    status, text = page.evaluate("""async (doc) => {
        const answer = await fetch("/api/leoflow/dags", {method: "POST",
            headers: {"Content-Type": "application/json"}, body: doc});
        return [answer.status, await answer.text()];
    }""", json.dumps(mine))  # Python's JSON: JavaScript would write 300.0 as 300
    assert status == 201, text
    assert current_spec(lite, token)["description"] == "changed from the server's own page"
    # ...and an API client with a bearer header, no Origin at all, as leoflow push does.
    pushed = httpx.post(f"{lite.url}/api/leoflow/dags", json=spec, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})
    assert pushed.status_code in (200, 201), pushed.text


def test_the_ide_still_logs_in_and_shows_the_dags(page: Page, lite: LiteServer) -> None:
    log_in(page, lite)
    expect(page.locator(f"[data-testid=dag-link-{DAG_ID}]")).to_be_visible()


# -- 12a. next= after login stays on the server ----------------------------------------------

@pytest.mark.parametrize("target", ["/%5Cevil.example", "//evil.example", "/%09/evil.example",
                                    "https://evil.example/"])
def test_the_api_login_page_does_not_redirect_off_site(
        page: Page, lite: LiteServer, target: str) -> None:
    visits = evil_trap(page)
    browser_login(page, lite, next_path=target)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # (a sync Playwright test must wait through Playwright)
    assert visits == []
    assert page.url.startswith(lite.url), page.url


@pytest.mark.parametrize("target", ["/%5Cevil.example", "/%5C%5Cevil.example"])
def test_the_ide_login_does_not_redirect_off_site(
        page: Page, lite: LiteServer, target: str) -> None:
    visits = evil_trap(page)
    log_in(page, lite, path=f"/login?next={target}")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(2500)
    assert visits == []
    assert page.url.startswith(lite.url), page.url


# -- 12c. a 100 MB body is refused while it streams, not held ---------------------------------

def reset_peak_rss(pid: int) -> None:
    """Start the peak (VmHWM) afresh, so that it measures this request alone."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:  # not allowed here: the peak since start is an upper bound anyway
        pass


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def post_raw(url: str, token: str, *, total: int, chunked: bool) -> tuple[str, int]:
    """POST ``total`` bytes to ``url`` over a socket, stopping as soon as the server
    answers; returns the status line and how many body bytes were sent."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    framing = ("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sock.sendall((f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                  f"{framing}\r\n\r\n").encode("ascii"))
    chunk = b"x" * MB
    sent = 0
    sock.settimeout(0.05)
    answer = b""
    try:
        while sent < total:
            try:
                answer += sock.recv(65536)
                if answer:
                    break
            except TimeoutError:
                pass
            data = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") if chunked else chunk
            sock.sendall(data)
            sent += len(chunk)
        if chunked and sent >= total:
            sock.sendall(b"0\r\n\r\n")
        sock.settimeout(120)
        while b"\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode("latin-1"), sent


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
def test_a_100_mb_push_is_refused_without_holding_it(lite: LiteServer, chunked: bool) -> None:
    token = admin_token(lite)
    reset_peak_rss(lite.process.pid)
    before = peak_rss_mb(lite.process.pid)
    status, sent = post_raw(f"{lite.url}/api/leoflow/dags", token, total=100 * MB,
                            chunked=chunked)
    grown = peak_rss_mb(lite.process.pid) - before
    print(f"100 MB push ({'streamed' if chunked else 'declared'}): {status!r}, "
          f"{sent / MB:.0f} MB sent, peak RSS {before:.0f} MB -> +{grown:.0f} MB")
    assert " 413 " in status + " ", status
    assert sent < 40 * MB
    assert grown < 64, f"the server's peak memory grew by {grown:.0f} MB"
    assert httpx.get(f"{lite.url}/api/v2/version", timeout=30).status_code == 200
