"""The browser tests' harness: Playwright for Python driving Debian's Chromium (found on PATH
and given as ``executable_path``: no browser is downloaded), a real server process per test
module, and the small vocabulary the page tests share.

Why a thin ``Page`` over Playwright's rather than Playwright's own everywhere: the tests ask
the page the questions a user's eyes would (is this visible, does that say "sold out") as
JavaScript expressions polled until true, which reads the same for every page; clicks, typing
and key presses go through Playwright, so they land only on what a person could reach
(visible, enabled, not covered by another element).

Every test keeps screenshots of its steps under ``ARTIFACTS`` (``LIVE_BROWSER_SHOTS`` or
``var/test-artifacts/browser``), one folder per test, numbered in order; a failed test also
gets a screenshot of each page it had open. The test run prints the folder at its end.
Chromium runs in a network namespace the test process creates (tests/browser/netns.py), so its
WebRTC candidates are that namespace's address only; the servers listen on the host side of its
veth pair. LIVE_BROWSER_URL=http://127.0.0.1:PORT tests a server that already runs (it must allow
development login, as ``serve --demo`` does); Chromium then runs in the host's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser as PwBrowser
from playwright.async_api import BrowserContext, ConsoleMessage, Dialog, Playwright
from playwright.async_api import Error as PwError
from playwright.async_api import Page as PwPage

from tests.browser.netns import BrowserNetwork

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
ARTIFACTS = Path(os.environ.get("LIVE_BROWSER_SHOTS")
                 or ROOT / "var" / "test-artifacts" / "browser")
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
PHONE, DESKTOP = (390, 844), (1366, 900)

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
    # video tests: a fake camera and microphone, no permission prompt, and real host addresses
    # in WebRTC candidates (not mDNS names) so the server can reach the browser without STUN.
    # Which addresses those are is the network's (BrowserNetwork.chromium_args): in the test's
    # namespace, its veth end's only (test_video.py reads the offers, answers and pairs in use)
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def js(value: Any) -> str:
    """A Python value as a JavaScript literal."""
    return json.dumps(value)


# ---- screenshots -------------------------------------------------------------------------------


class Shots:
    """One test's screenshots: ``ARTIFACTS/<module>/<test>/NN-<step>.png`` in step order."""

    def __init__(self, nodeid: str) -> None:
        module, _, name = nodeid.partition("::")
        self.folder = ARTIFACTS / Path(module).stem / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)  # a re-run replaces, never mixes
        self.count = 0

    async def take(self, page: PwPage, step: str) -> None:
        self.count += 1
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", step)
        path = self.folder / f"{self.count:02d}-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), timeout=15_000)


# ---- the browser -------------------------------------------------------------------------------


class Browser:
    """One Chromium; each page is a browsing context of its own (own storage, own viewport), as
    two people on two devices would be."""

    def __init__(self, playwright: Playwright, chromium: PwBrowser, shots: Shots,
                 net: BrowserNetwork, *, shared: bool = False) -> None:
        self.playwright = playwright
        self.chromium = chromium
        self.shots = shots
        self.net = net  # where it runs (a test's own server listens on net.host)
        self.pages: list[Page] = []
        # one Chromium for every test of a test process (``for_test``): a test closes only the
        # browsing contexts it opened
        self.shared = shared

    def for_test(self, shots: Shots) -> Browser:
        """This Chromium for one test: its own pages and screenshots, nothing of another
        test's (each page is a context of its own)."""
        return Browser(self.playwright, self.chromium, shots, self.net, shared=True)

    @classmethod
    async def launch(cls, net: BrowserNetwork, shots: Shots) -> Browser:
        """Chromium in the network's namespace (Playwright's default --no-sandbox stays: it
        runs as root, which Chromium's own sandbox refuses)."""
        from playwright.async_api import async_playwright

        pw = await async_playwright().start()
        try:
            chromium = await pw.chromium.launch(
                executable_path=net.executable, headless=True,
                args=CHROMIUM_ARGS + net.chromium_args(), timeout=60_000)
        except BaseException:
            await pw.stop()
            raise
        return cls(pw, chromium, shots, net)

    async def new_page(self, width: int = 1200, height: int = 900,
                       init_script: str | None = None) -> Page:
        """A page in a fresh context; a phone-sized one (narrower than 600 px) is a touch
        device with a mobile viewport, as a phone is."""
        phone = width < 600
        context = await self.chromium.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=1,
            is_mobile=phone, has_touch=phone)
        if init_script:
            await context.add_init_script(script=init_script)
        page = Page(self, context, await context.new_page())
        self.pages.append(page)
        return page

    async def screenshot_all(self, step: str) -> None:
        """A screenshot of every page still open (a failed test's last picture)."""
        for i, page in enumerate(self.pages):
            if not page.pw.is_closed():
                with contextlib.suppress(PwError, TimeoutError):
                    await self.shots.take(page.pw, f"{step}-page{i + 1}")

    async def close(self) -> None:
        if self.shared:  # the test's contexts only; the process's Chromium goes on
            for page in self.pages:
                with contextlib.suppress(PwError):
                    await page.context.close()
            return
        with contextlib.suppress(PwError):
            await self.chromium.close()
        with contextlib.suppress(PwError):
            await self.playwright.stop()


class TimedOut(AssertionError):
    pass


class Page:
    """A page as the tests use it: JavaScript questions polled until true (``wait_for``),
    Playwright's clicks and typing, the console's errors, and numbered screenshots."""

    def __init__(self, browser: Browser, context: BrowserContext, page: PwPage) -> None:
        self.browser = browser
        self.context = context
        self.pw = page
        self.errors: list[str] = []
        self.dialog_answers: list[str | None] = []  # prompt answers, in order (None: cancel)
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", self._dialog)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", ""):
            self.errors.append(f"{msg.text} {(msg.location or {}).get('url', '')}".strip())

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        answer = self.dialog_answers.pop(0) if self.dialog_answers else ""
        if answer is None:
            asyncio.get_running_loop().create_task(dialog.dismiss())
        else:
            asyncio.get_running_loop().create_task(dialog.accept(answer))

    async def goto(self, url: str) -> None:
        await self.pw.goto(url, wait_until="load", timeout=30_000)

    async def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        return await self.pw.evaluate(expression)

    async def wait_for(self, expression: str, within: float = 10.0) -> Any:
        """The expression's first truthy value, asked every 0.1 s; an expression that throws
        (the element is not there yet) counts as not yet."""
        deadline = time.monotonic() + within
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = await self.pw.evaluate(expression)
            except PwError as e:
                last = f"error: {e.message.splitlines()[0]}"
            else:
                if last:
                    return last
            await asyncio.sleep(0.1)
        raise TimedOut(f"timed out: {expression!r} (last {last!r}); errors: {self.errors}")

    async def text(self, selector: str) -> str:
        return str(await self.eval(f"document.querySelector({js(selector)})?.textContent ?? ''"))

    async def click(self, selector: str) -> None:
        """A real click on the first match, once it is visible, enabled and not covered."""
        await self.pw.locator(selector).first.click(timeout=10_000)

    async def tap(self, selector: str) -> None:
        """A touch on the first match (phone-sized pages)."""
        await self.pw.locator(selector).first.tap(timeout=10_000)

    async def press(self, key: str, selector: str | None = None) -> None:
        """A key press, on the element or on whatever has the focus."""
        if selector:
            await self.pw.locator(selector).first.press(key, timeout=10_000)
        else:
            await self.pw.keyboard.press(key)

    async def fill(self, selector: str, value: str) -> None:
        """Typed into a field (a choice for a <select>), as a person would; the page gets the
        same input events."""
        field = self.pw.locator(selector).first
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value, timeout=10_000)
        else:
            await field.fill(value, timeout=10_000)

    async def submit(self, form: str, **fields: str) -> None:
        for name, value in fields.items():
            await self.fill(f"{form} [name={name}]", value)
        await self.eval(f"document.querySelector({js(form)}).requestSubmit()")

    async def add_init_script(self, source: str) -> None:
        """A script run in every document this page loads from now on, before the page's own."""
        await self.pw.add_init_script(script=source)

    async def record_requests(self, urls: list[str], times: list[float] | None = None) -> None:
        """Every request URL the page sends from now on, in order (and, into ``times``, when
        the browser sent it, on its own monotonic clock in seconds: the test's clock would add
        its own delays)."""
        session = await self.context.new_cdp_session(self.pw)

        def sent(params: dict[str, Any]) -> None:
            urls.append(str(params.get("request", {}).get("url", "")))
            if times is not None:
                times.append(float(params.get("timestamp", 0.0)))

        session.on("Network.requestWillBeSent", sent)
        await session.send("Network.enable")

    async def bring_to_front(self) -> None:
        await self.pw.bring_to_front()

    async def cdp(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A DevTools command for what Playwright has no word for."""
        session = await self.context.new_cdp_session(self.pw)
        try:
            return await session.send(method, params or {})
        finally:
            with contextlib.suppress(PwError):
                await session.detach()

    async def screenshot(self, step: str) -> None:
        """This step's picture in the test's artifacts folder."""
        await self.browser.shots.take(self.pw, step)

    async def close(self) -> None:
        await self.context.close()


# ---- JavaScript snippets -------------------------------------------------------------------------

CONNECTED = "document.querySelector('#conn').dataset.state === 'open'"


def has_msg(text: str) -> str:
    return (
        f"[...document.querySelectorAll('#chat .msg-text')].some(e => e.textContent === {js(text)})"
    )


def includes(selector: str, text: str) -> str:
    return f"document.querySelector({js(selector)}).textContent.includes({js(text)})"


def has_text(selector: str, text: str) -> str:
    """The element is there and its text includes ``text`` (false, not an error, while absent)."""
    return f"(document.querySelector({js(selector)})?.textContent || '').includes({js(text)})"


def visible(selector: str) -> str:
    return (f"(() => {{ const e = document.querySelector({js(selector)});"
            " return !!e && !e.hidden && e.getClientRects().length > 0; })()")


def number(selector: str) -> str:
    return f"Number(document.querySelector({js(selector)}).textContent.replace(/[^0-9]/g, ''))"


async def click_msg_action(page: Page, text: str, title_start: str) -> None:
    """Click the action (button title starting with title_start) of the message with this text."""
    await page.pw.locator("#chat .msg").filter(
        has=page.pw.locator(".msg-text", has_text=re.compile(f"^{re.escape(text)}$"))
    ).first.locator(f'button[title^="{title_start}"]').first.click(timeout=10_000)


# ---- accessibility (axe-core, vendored, injected into the page under test) ---------------------

WCAG_TAGS = "{runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}}"


async def _inject_axe(page: Page) -> None:
    if not await page.eval("!!window.axe"):
        await page.eval(AXE.read_text())


async def axe_violations(page: Page, selector: str) -> list[str]:
    """axe-core's WCAG 2 A/AA violations inside the element, any impact."""
    await _inject_axe(page)
    found = await page.eval(
        f"axe.run(document.querySelector({js(selector)}), {WCAG_TAGS})"
        ".then(r => r.violations.map(v => v.id + ': '"
        " + v.nodes.map(n => n.target.join(' ')).join(', ')))"
    )
    return list(found)


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2 A/AA violations on the whole page."""
    await _inject_axe(page)
    found = await page.eval(
        f"axe.run(document, {WCAG_TAGS})"
        ".then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))"
    )
    return list(found)


# ---- the server under test ---------------------------------------------------------------------


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
        return json.loads(text) if text else {}


def wait_http(url: str, proc: subprocess.Popen[bytes], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


class ServerProcess:
    """`python -m live_server serve --demo` on the browser network's host address (the host
    side of the test's veth pair: Chromium's only way out of its namespace), on a port of the
    network's pool, in its own working folder. Its WebRTC candidates are on that address only;
    Valkey stays on 127.0.0.1."""

    def __init__(self, net: BrowserNetwork, workdir: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.net = net
        self.port = net.take_port()
        self.env = env or {}  # settings for this server (LIVE_<SECTION>_<KEY>)
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="pages-server-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://{net.host}:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "live_server", "serve", "--demo"]
        cmd += ["--host", self.net.host, "--port", str(self.port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "LIVE_MEDIA_ICE_ADDRESSES": self.net.host,  # WebRTC on the test's veth only
               **self.env}
        with (self.workdir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if not wait_http(f"{self.url}/healthz", self.proc, 60):
            tail = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
            self.stop()
            pytest.fail(f"the server did not start:\n{tail}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.net.give_back(self.port)


def token(base: str, user: str, role: str, name: str | None = None) -> str:
    body = {"user": user, "name": name or user.title(), "role": role}
    return str(http("POST", f"{base}/api/dev/token", body)["token"])


def make_room(base: str, creator_token: str, title: str, **extra: Any) -> dict[str, Any]:
    room: dict[str, Any] = http(
        "POST", f"{base}/api/rooms", {"title": title, **extra}, creator_token
    )
    http("POST", f"{base}/api/rooms/{room['id']}/start", {}, creator_token)
    return room


async def open_page(
    browser: Browser, base: str, path: str, tok: str | None, width: int = 1200, height: int = 900,
    requests: list[str] | None = None, times: list[float] | None = None,
) -> Page:
    """A page at base+path with this token (None: guest) in localStorage, as after a login;
    with ``requests``, every request URL it sends from the navigation on is recorded there (see
    Page.record_requests)."""
    page = await browser.new_page(width, height)
    await page.goto(f"{base}/static/css/app.css")  # same origin, to set localStorage first
    if tok:
        await page.eval(f"localStorage.setItem('live_server.token', {js(tok)})")
    else:
        await page.eval("localStorage.removeItem('live_server.token')")
    if requests is not None:
        await page.record_requests(requests, times)
    await page.goto(f"{base}{path}")
    return page
