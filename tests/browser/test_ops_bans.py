"""Platform-wide bans from the ops console, in a real Chromium at desktop (1366×900) and phone
(390×844) size: the alerts strip says "All clear" on a quiet server; ops suspend a user from the
Suspensions panel (their open room socket closes), see them listed, undo the suspension from the
moderation log (the entry then says who undid it) and the user is back."""

from __future__ import annotations

import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    axe_violations,
    has_text,
    js,
    make_room,
    open_page,
    token,
)
from tests.helpers import Viewer

NO_SIDEWAYS = "document.documentElement.scrollWidth <= innerWidth + 1"


def log_row(action: str, target: str) -> str:
    """The newest moderation log row for ``action`` on ``target`` (null when not listed)."""
    return (f"[...document.querySelectorAll('#log tr')].find(r => "
            f"r.children[3].textContent === {js(action)} && "
            f"r.children[4].textContent === {js(target)})")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_suspend_list_undo_and_all_clear(server: str, browser: Browser,
                                              size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    user = f"susp_{tag}"
    creator = token(server, f"susp_seller_{tag}", "creator", "Seller")
    room = make_room(server, creator, f"Evening show {tag}")["id"]
    viewer = await Viewer.connect(server, room, token(server, user, "viewer"))
    back: Viewer | None = None
    try:
        await viewer.wait_welcome()
        ops = await open_page(browser, server, "/ops", token(server, "ops_olga", "ops", "Olga"),
                              *size)
        await ops.wait_for("document.querySelector('#alerts').dataset.state === 'clear'")
        assert (await ops.text("#alerts")).strip() == "All clear"
        await ops.wait_for("!document.querySelector('#suspensions-empty').hidden")
        await ops.screenshot(f"ops-bans-clear-{tag}")

        await ops.submit("#suspend-form", user_id=user, reason="card testing", duration="24h")
        assert await viewer.wait_closed() == 4003  # their open socket is closed
        listed = f"#suspensions tr[data-user={js(user)}]"
        await ops.wait_for(f"!!document.querySelector({js(listed)})")
        assert "card testing" in await ops.text(listed)
        await ops.wait_for(has_text("#suspend-msg", "suspended"))
        assert await ops.eval(NO_SIDEWAYS)
        await ops.eval("document.querySelector('#suspensions-section').scrollIntoView()")
        await ops.screenshot(f"ops-bans-suspended-{tag}")

        # undo it from the moderation log: the row then says who undid it
        await ops.wait_for(f"!!{log_row('suspend', user)}?.querySelector('.log-undo-btn')")
        await ops.eval(f"{log_row('suspend', user)}.querySelector('.log-undo-btn').click()")
        await ops.wait_for(f"!document.querySelector({js(listed)})")
        await ops.wait_for(f"{log_row('suspend', user)}?.querySelector('.log-undone')"
                           f"?.textContent.startsWith('undone by ops_olga')")
        await ops.wait_for(f"!!{log_row('unsuspend', user)}")
        back = await Viewer.connect(server, room, token(server, user, "viewer"))
        await back.wait_welcome()  # let in again
        await ops.eval(f"{log_row('suspend', user)}.scrollIntoView({{block: 'center'}})")
        await ops.screenshot(f"ops-bans-undone-{tag}")

        # the ban dialog offers the room or the whole platform
        scopes = await ops.eval("[...document.querySelectorAll('#ban-form [name=scope]')]"
                                ".map(r => r.value)")
        assert scopes == ["room", "platform"]
        serious = await axe_violations(ops, "#ops")
        assert serious == [], serious
        assert ops.errors == [], ops.errors
    finally:
        for v in (viewer, back):
            if v is not None:
                await v.close()
