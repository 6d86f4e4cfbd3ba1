"""The webhooks panel (static/js/studio-webhooks.js) in a real Chromium against a real server
that delivers to a real receiver: an aiohttp server on loopback that this test starts, which
records every request and answers 200, or 500 when told to.

In the studio a creator adds an endpoint (its URL, two event checkboxes) and sees its secret
once (not after a reload); sends a test event and reads it in the delivery log as delivered
with HTTP 200, while the receiver verifies the request's Standard Webhooks signature with that
secret; then a receiver answering 500: the log shows each attempt's status and the answer's
excerpt until the delivery has failed, and Redeliver (the receiver back at 200) delivers it
with the same webhook-id. Disable and enable, rotate the secret (a new one, shown once, that
signs the next delivery), delete. axe-core (WCAG 2 A/AA) checks the panel with its log open;
on a phone-sized (390×844) and a desktop-sized (1366×900) page nothing scrolls sideways. In the
ops console the platform endpoints panel adds an endpoint of every room.

The server retries fast here (LIVE_WEBHOOKS_RETRY_SCHEDULE_MS, LIVE_WEBHOOKS_POLL_INTERVAL_MS).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from standardwebhooks import Webhook

from tests.browser.harness import (
    Browser,
    Page,
    ServerProcess,
    axe_violations,
    find_chromium,
    http,
    includes,
    js,
    open_page,
    token,
)
from tests.browser.netns import BrowserNetwork

PHONE, DESKTOP = (390, 844), (1366, 900)
SECTION = "#webhooks-section"
RETRY_SCHEDULE_MS = "300,300"  # three attempts in all, 0.3 s apart; then the delivery failed
FAILURE_TEXT = "receiver down for maintenance <b>try later</b>"


# ---- the server under test and the receiver ---------------------------------------------------


@pytest.fixture(scope="module")
def server(browser_net: BrowserNetwork) -> Iterator[str]:
    """A server whose webhook worker looks for due deliveries every 50 ms and retries fast."""
    if find_chromium() is None:
        pytest.fail("no chromium installed: scripts/test.sh installs Debian's chromium")
    proc = ServerProcess(browser_net)
    env = {"LIVE_WEBHOOKS_RETRY_SCHEDULE_MS": RETRY_SCHEDULE_MS,
           "LIVE_WEBHOOKS_POLL_INTERVAL_MS": "50",
           "LIVE_WEBHOOKS_ALLOW_PRIVATE": "true"}  # the receiver is on loopback
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        proc.start()
    try:
        yield proc.url
    finally:
        proc.remove()


class Receiver:
    """Records every POST (headers in lower case, body) and answers `status` (with
    FAILURE_TEXT when it is not 200)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], str]] = []
        self.status = 200
        self.base = ""
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.got.append((headers, await request.text()))
        if self.status == 200:
            return web.Response(text="thanks")
        return web.Response(status=self.status, text=FAILURE_TEXT)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()  # a free port
        host, port = self.runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def ids(self) -> list[str]:
        return [h.get("webhook-id", "") for h, _ in self.got]

    async def wait_count(self, n: int, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while len(self.got) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver got {len(self.got)} requests, not {n}")
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="session")  # the loop the browser tests run in
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


# ---- the panel ---------------------------------------------------------------------------------


def item(url: str) -> str:
    """The endpoint's list item (JavaScript)."""
    return (f"[...document.querySelectorAll('{SECTION} li.webhook')]"
            f".find(li => li.querySelector('strong')?.textContent === {js(url)})")


async def press(page: Page, url: str, label: str) -> None:
    """Click the endpoint's button with this label."""
    await page.eval(f"[...{item(url)}.querySelectorAll('button')]"
                    f".find(b => b.textContent === {js(label)}).click()")


def flashed(text: str) -> str:
    return (f"(() => {{ const m = document.querySelector('{SECTION} .msg');"
            f" return !!m && !m.hidden && m.textContent.includes({js(text)}); }})()")


def secret_shown() -> str:
    return (f"(() => {{ const b = document.querySelector('{SECTION} .secret-once');"
            " const i = b && !b.hidden && b.querySelector('input');"
            " return i ? i.value : ''; })()")


async def add_endpoint(page: Page, url: str, events: list[str]) -> str:
    """Fill the URL, tick exactly these events (the defaults are the order events), add; the
    secret shown once is returned."""
    await page.wait_for(f"!!document.querySelector('{SECTION} form input[name=url]')")
    await page.fill(f"{SECTION} form input[name=url]", url)
    boxes = await page.eval(f"[...document.querySelectorAll('{SECTION} input[name=events]')]"
                            ".map(b => [b.value, b.checked])")
    for value, checked in boxes:
        if checked != (value in events):
            await page.click(f"{SECTION} input[name=events][value={js(value)}]")
    ticked = await page.eval(f"[...document.querySelectorAll('{SECTION} input[name=events]')]"
                             ".filter(b => b.checked).map(b => b.value)")
    assert sorted(ticked) == sorted(events)
    await page.click(f"{SECTION} form button[type=submit]")
    secret = str(await page.wait_for(secret_shown()))
    assert secret.startswith("whsec_"), secret
    assert url in await page.text(f"{SECTION} .secret-once strong")
    await page.wait_for(flashed("Endpoint added."))
    await page.wait_for(f"!!{item(url)}")
    assert await page.eval(f"document.querySelector('{SECTION} form input[name=url]').value") == ""
    return secret


async def log_rows(page: Page, url: str) -> list[list[str]] | None:
    """The open delivery log's rows (newest first) as cell texts; None while it is closed."""
    rows = await page.eval(
        f"(() => {{ const box = {item(url)}?.querySelector('.webhook-log');"
        " if (!box || box.hidden) return null;"
        " return [...box.querySelectorAll('tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.textContent)); })()")
    return None if rows is None else [list(r) for r in rows]


async def wait_log(page: Page, url: str, want: str, within: float = 15.0) -> list[list[str]]:
    """Wait until the newest row's result reads `want`. The log is what the server said when
    it was opened: while it is not there yet it is read again as a user would, closing and
    opening it with the Deliveries button."""
    deadline = time.monotonic() + within
    rows: list[list[str]] | None = None
    while time.monotonic() < deadline:
        rows = await log_rows(page, url)
        if rows and rows[0][3] == want:
            return rows
        opened = f"!({item(url)}.querySelector('.webhook-log').hidden)"
        if await page.eval(opened):
            await press(page, url, "Deliveries")  # close
        await press(page, url, "Deliveries")
        await page.wait_for(opened)
        await asyncio.sleep(0.2)  # a poll's pace, not a condition
    raise AssertionError(f"the log never read {want!r}: {rows}; errors: {page.errors}")


async def no_sideways_scroll(page: Page) -> None:
    assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    box = await page.eval(
        f"(() => {{ const s = document.querySelector({js(SECTION)});"
        " const r = s.getBoundingClientRect();"
        " return {l: r.left, r: r.right, w: innerWidth, sw: s.scrollWidth, cw: s.clientWidth};"
        " })()")
    assert box["l"] >= -1 and box["r"] <= box["w"] + 1, box
    assert box["sw"] <= box["cw"] + 1, box


async def shot(page: Page, name: str) -> None:
    """A screenshot (LIVE_BROWSER_SHOTS) with the endpoint list in view."""
    await page.eval(f"document.querySelector('{SECTION} .webhook-list').scrollIntoView()")
    await page.screenshot(name)


def verified(secret: str, request: tuple[dict[str, str], str]) -> Any:
    headers, body = request
    return Webhook(secret).verify(body, headers)


def unexpected(errors: list[str]) -> list[str]:
    """The page's errors but the one the test provokes: a test sent while disabled (409)."""
    return [e for e in errors if not ("/test" in e and "409" in e)]


# ---- tests -------------------------------------------------------------------------------------


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_creator_manages_an_endpoint_in_the_studio(
        server: str, browser: Browser, receiver: Receiver,
        size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"wh_creator_{tag}", "creator", "Hook Creator")
    url = f"{receiver.base}/studio-{tag}"
    page = await open_page(browser, server, "/studio", creator, *size)
    await page.wait_for(includes(f"{SECTION} h2", "Webhooks"))
    await page.wait_for(includes(f"{SECTION} .webhook-list", "No endpoints yet."))

    # add: the secret is shown once, the endpoint listed enabled with its two events
    secret = await add_endpoint(page, url, ["room.started", "room.ended"])
    li = item(url)
    assert "enabled" in await page.eval(f"{li}.querySelector('.badge').textContent")
    assert "room.started, room.ended" in await page.eval(f"{li}.querySelector('p').textContent")
    (listed,) = http("GET", f"{server}/api/webhooks", token=creator)["webhooks"]
    assert (listed["url"], listed["events"]) == (url, ["room.started", "room.ended"])
    assert secret not in json.dumps(listed)
    await no_sideways_scroll(page)
    await shot(page, f"webhooks-{tag}-secret")
    await page.eval(f"[...document.querySelectorAll('{SECTION} .secret-once button')]"
                    ".find(b => b.textContent === 'Done').click()")
    await page.wait_for(f"document.querySelector('{SECTION} .secret-once').hidden")
    # not again after a reload
    await page.goto(f"{server}/studio")
    await page.wait_for(f"!!{li}")
    assert await page.eval(f"document.querySelector('{SECTION} .secret-once').hidden")
    page_text = ("document.documentElement.outerHTML + [...document.querySelectorAll('input')]"
                 ".map(i => i.value).join(' ')")
    assert secret not in await page.eval(page_text)

    # a test event: delivered with HTTP 200, signed with the secret
    await press(page, url, "Send test")
    await page.wait_for(flashed("Test event queued."))
    rows = await wait_log(page, url, "HTTP 200 · delivered")
    assert (rows[0][1], rows[0][2]) == ("webhook.test", "1")
    assert rows[0][4] == "thanks"
    await receiver.wait_count(1)
    payload = verified(secret, receiver.got[0])
    assert payload["type"] == "webhook.test"
    detail = http("GET", f"{server}/api/webhooks/{listed['id']}", token=creator)
    assert detail["deliveries"][0]["message_id"] == receiver.ids()[0]

    # the receiver fails: every attempt is logged with its status and the answer's excerpt,
    # each with the same webhook-id, until the delivery has failed
    receiver.status = 500
    await press(page, url, "Send test")
    rows = await wait_log(page, url, "HTTP 500 · failed")
    attempts = len(RETRY_SCHEDULE_MS.split(",")) + 1
    assert [r[3] for r in rows[:attempts]] == (
        ["HTTP 500 · failed"] + ["HTTP 500 · retry"] * (attempts - 1))
    assert [r[2] for r in rows[:attempts]] == [str(n) for n in range(attempts, 0, -1)]
    assert all(r[4] == FAILURE_TEXT for r in rows[:attempts])  # as text, never markup
    assert rows[1][5] != "—" and rows[0][5] == "—"  # a retry's next time; none after failing
    assert await page.eval(f"{li}.querySelectorAll('.webhook-log b').length") == 0
    await receiver.wait_count(1 + attempts)
    failed_id = receiver.ids()[1]
    assert receiver.ids()[1:] == [failed_id] * attempts
    await no_sideways_scroll(page)
    assert await axe_violations(page, SECTION) == []
    await shot(page, f"webhooks-{tag}-failed")

    # Redeliver (the receiver is back): delivered, with the same webhook-id
    receiver.status = 200
    redeliver = (f"[...{li}.querySelectorAll('.webhook-log tbody tr')[0]"
                 ".querySelectorAll('button')].find(b => b.textContent === 'Redeliver')")
    await page.eval(f"{redeliver}.click()")
    await page.wait_for(flashed("Sent again."))
    rows = await wait_log(page, url, "HTTP 200 · delivered")
    assert rows[0][1] == "webhook.test"
    await receiver.wait_count(2 + attempts)
    assert receiver.ids()[-1] == failed_id
    assert verified(secret, receiver.got[-1])["type"] == "webhook.test"
    detail = http("GET", f"{server}/api/webhooks/{listed['id']}", token=creator)
    newest = detail["deliveries"][0]
    assert (newest["message_id"], newest["outcome"], newest["status"]) == (
        failed_id, "delivered", 200)

    # disable: the badge says so, a test is refused with a readable message; enable again
    await press(page, url, "Disable")
    await page.wait_for(f"{li}?.querySelector('.badge').textContent === 'disabled'")
    assert http("GET", f"{server}/api/webhooks", token=creator)["webhooks"][0]["enabled"] is False
    await press(page, url, "Send test")
    await page.wait_for(flashed("The webhook is disabled."))
    assert await page.eval(f"document.querySelector('{SECTION} .msg').dataset.kind") == "error"
    await press(page, url, "Enable")
    await page.wait_for(f"{li}?.querySelector('.badge').textContent === 'enabled'")
    assert http("GET", f"{server}/api/webhooks", token=creator)["webhooks"][0]["enabled"] is True

    # rotate: a new secret, shown once, signs what follows
    await press(page, url, "Rotate secret")
    await page.wait_for(f"{secret_shown()}.startsWith('whsec_')")
    rotated = str(await page.eval(secret_shown()))
    assert rotated != secret
    assert "New secret of" in await page.text(f"{SECTION} .secret-once strong")
    assert page.dialogs[-1].startswith("Rotate the signing secret?")
    await page.wait_for(flashed("Secret rotated."))
    before = len(receiver.got)
    await press(page, url, "Send test")
    await wait_log(page, url, "HTTP 200 · delivered")
    await receiver.wait_count(before + 1)
    assert verified(rotated, receiver.got[-1])["type"] == "webhook.test"
    await page.goto(f"{server}/studio")
    await page.wait_for(f"!!{li}")
    assert rotated not in await page.eval(page_text)

    # delete
    await press(page, url, "Delete")
    await page.wait_for(f"!{li}")
    await page.wait_for(includes(f"{SECTION} .webhook-list", "No endpoints yet."))
    assert page.dialogs[-1].startswith("Delete the endpoint")
    assert http("GET", f"{server}/api/webhooks", token=creator)["webhooks"] == []
    await no_sideways_scroll(page)
    assert unexpected(page.errors) == [], page.errors


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_ops_add_a_platform_endpoint(
        server: str, browser: Browser, receiver: Receiver,
        size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    ops = token(server, f"wh_ops_{tag}", "ops", "Hook Ops")
    url = f"{receiver.base}/platform-{tag}"
    page = await open_page(browser, server, "/ops", ops, *size)
    await page.wait_for(includes(f"{SECTION} h2", "Platform webhooks"))
    assert "every room" in await page.text(SECTION)
    secret = await add_endpoint(page, url, ["room.started", "order.paid"])
    platform = [w for w in http("GET", f"{server}/api/webhooks", token=ops)["webhooks"]
                if w["url"] == url]
    assert [w["scope"] for w in platform] == ["platform"]
    # a creator does not see the platform's endpoints
    creator = token(server, f"wh_other_{tag}", "creator")
    assert http("GET", f"{server}/api/webhooks", token=creator)["webhooks"] == []
    # it delivers: a test event, verified with its secret
    await press(page, url, "Send test")
    await wait_log(page, url, "HTTP 200 · delivered")
    await receiver.wait_count(1)
    assert verified(secret, receiver.got[0])["type"] == "webhook.test"
    await no_sideways_scroll(page)
    await shot(page, f"webhooks-ops-{tag}")
    assert page.errors == [], page.errors
