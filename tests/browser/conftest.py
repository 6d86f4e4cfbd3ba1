"""The browser tests' fixtures: the network Chromium runs in (a namespace per test process,
tests/browser/netns.py), a real server process per test module, a Chromium per test
(tests/browser/harness.py), screenshots kept as artifacts and their folder named at the end of
the run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator

import pytest

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


@pytest.fixture
async def browser(request: pytest.FixtureRequest,
                  browser_net: BrowserNetwork) -> AsyncIterator[Browser]:
    b = await Browser.launch(browser_net, Shots(request.node.nodeid))
    try:
        yield b
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            await b.screenshot_all("failed")
    finally:
        await b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The call's outcome on the item, so the browser fixture knows a failure happened."""
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
