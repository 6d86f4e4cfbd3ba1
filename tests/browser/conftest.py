"""The browser tests' fixtures: the network Chromium runs in (a namespace per test process,
tests/browser/netns.py), a real server process per test module, one Chromium per test process
with fresh browsing contexts for each test (tests/browser/harness.py), screenshots kept as
artifacts and their folder named at the end of the run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
import pytest_asyncio

from tests.browser.harness import Browser, ServerProcess, Shots, find_chromium
from tests.browser.netns import NEEDS, BrowserNetwork, NamespaceError

NO_CHROMIUM = "no chromium installed: scripts/test.sh installs Debian's chromium"


@pytest.fixture(scope="session")
def browser_net() -> Iterator[BrowserNetwork]:
    """This test process's network namespace for Chromium, removed at the end (also when tests
    failed). No fallback to the host's network when it cannot be made: Chromium would gather
    candidates on every interface of the machine. With LIVE_BROWSER_URL (a server that already
    runs, reached where it is), Chromium runs in the host's namespace, as it must to reach it."""
    exe = find_chromium()
    if exe is None:
        pytest.fail(NO_CHROMIUM)
    if os.environ.get("LIVE_BROWSER_URL"):
        yield BrowserNetwork.loopback(exe)
        return
    try:
        net = BrowserNetwork.create(exe)
    except NamespaceError as exc:
        pytest.fail(f"{NEEDS}: {exc}")
    try:
        yield net
    finally:
        net.remove()


@pytest.fixture(scope="module")
def server(browser_net: BrowserNetwork) -> Iterator[str]:
    given = os.environ.get("LIVE_BROWSER_URL")
    if given:
        yield given.rstrip("/")
        return
    proc = ServerProcess(browser_net)
    try:
        proc.start()
        yield proc.url
    finally:
        proc.remove()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium(browser_net: BrowserNetwork) -> AsyncIterator[list[Browser]]:
    """One Chromium per test process (launching one costs about 0.6 s a test): a list holding
    it, so a test that finds it gone (crashed) launches the next."""
    held: list[Browser] = []
    try:
        yield held
    finally:
        for b in held:
            await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(request: pytest.FixtureRequest, browser_net: BrowserNetwork,
                  chromium: list[Browser]) -> AsyncIterator[Browser]:
    """The process's Chromium for this test: every page the test opens is a browsing context
    of its own (own storage, cookies, viewport), closed after the test."""
    if not chromium or not chromium[0].chromium.is_connected():
        if chromium:
            await chromium.pop().close()
        chromium.append(await Browser.launch(browser_net, Shots("chromium")))
    b = chromium[0].for_test(Shots(request.node.nodeid))
    try:
        yield b
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            await b.screenshot_all("failed")
    finally:
        await b.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run in the test process's one event loop, where its Chromium lives
    (Playwright's objects belong to the loop that made them)."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep) and item.get_closest_marker("asyncio"):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The call's outcome on the item, so the browser fixture knows a failure happened."""
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
