"""The buyer's checkout in a real Chromium, on a phone-sized and a desktop-sized page: a shelf
product with two variants and a pinned coupon; the viewer claims the coupon, taps Buy, picks a
variant, sees the discount, enters an address (an invalid field first: its error shows by the
field), pays, and sees the order paid in "My orders". With the webhook provider the sheet waits
for the payment and follows the pushed `order` event once a signed webhook marks it paid.
axe-core (vendored under tests/browser/vendor/, never served) checks the open sheet. Another
viewer's page never shows the buyer's address.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from live_server.services.orders import sign
from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    ServerProcess,
    axe_violations,
    has_text,
    http,
    js,
    make_room,
    open_page,
    token,
    visible,
)
from tests.browser.netns import BrowserNetwork

ADDRESS = {"name": "Ada Buyer", "phone": "+86 10 1234 5678", "country": "CN",
           "city": "Hangzhou", "line1": "88 West Lake Road", "postal_code": "310000"}
WEBHOOK_SECRET = "checkout-test-webhook-secret"


def shop(base: str, tag: str) -> dict[str, Any]:
    """A live room whose creator (over the API) shelved and pinned a product in three
    variants (S at the live price, M 1.00 dearer, L sold out) and pinned a coupon of 2.00 off
    from 5.00."""
    creator = token(base, f"co_seller_{tag}", "creator", "Seller")
    rid = make_room(base, creator, f"Checkout live {tag}")["id"]
    product = http("POST", f"{base}/api/products", {
        "title": "Hoodie <b>warm</b>", "list_price": 12000, "live_price": 9900,
        "currency": "CNY", "per_buyer_limit": 3,
        "options": [{"name": "Size", "values": ["S", "M", "L"]}],
        "variants": [{"options": {"Size": "S"}, "stock": 5, "price_delta": 0},
                     {"options": {"Size": "M"}, "stock": 3, "price_delta": 100},
                     {"options": {"Size": "L"}, "stock": 0, "price_delta": 100}],
    }, creator)
    pid = product["id"]
    http("POST", f"{base}/api/rooms/{rid}/shelf", {"product_id": pid}, creator)
    http("PUT", f"{base}/api/rooms/{rid}/pinned", {"product_id": pid}, creator)
    coupon = http("POST", f"{base}/api/rooms/{rid}/coupons", {
        "title": "2 off", "kind": "amount", "amount_off": 200, "min_spend": 500, "quota": 10,
        "end_at": int(time.time() * 1000) + 3_600_000,
    }, creator)
    http("PUT", f"{base}/api/rooms/{rid}/coupon_pin", {"coupon_id": coupon["id"]}, creator)
    return {"creator": creator, "room": rid, "product": pid, "coupon": coupon["id"]}


# Every `buy` key the page sends, in order; the first says the buyer saw 1.00 more than the
# price (as when the price moved between the quote and the tap): the server refuses it.
STALE_FIRST_PRICE = """(() => {
  const s = window.liveRoom.socket;
  const request = s.request.bind(s);
  window.sentKeys = [];
  s.request = (op, fields, opts) => {
    if (op === 'buy') {
      window.sentKeys.push(fields.idempotency_key);
      if (window.sentKeys.length === 1) {
        fields = {...fields, expected_amount: fields.expected_amount + 100};
      }
    }
    return request(op, fields, opts);
  };
})()"""


async def fits(page: Page) -> None:
    """No horizontal scroll, and the open sheet lies inside the viewport."""
    assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    box = await page.eval(
        "(() => { const r = document.querySelector('#checkout').getBoundingClientRect();"
        " return {l: r.left, r: r.right, t: r.top, b: r.bottom,"
        " w: innerWidth, h: innerHeight}; })()"
    )
    assert box["l"] >= -1 and box["r"] <= box["w"] + 1, box
    assert box["t"] >= -1 and box["b"] <= box["h"] + 1, box


async def claim_pinned_coupon(page: Page, coupon: str) -> None:
    """The viewer claims the pinned coupon from the room's banner."""
    banner = f'#coupon-banner[data-coupon="{coupon}"]'
    await page.wait_for(f"!document.querySelector({js(banner)})?.hidden")
    await page.wait_for(f"!document.querySelector('{banner} .coupon-claim').disabled")
    await page.click(f"{banner} .coupon-claim")
    await page.wait_for(has_text(f"{banner} .coupon-result", "Claimed"))


async def open_sheet(page: Page, pid: str) -> None:
    await page.wait_for(f"!!document.querySelector('#pinned[data-product={js(pid)}] .buy-btn')")
    await page.wait_for("!document.querySelector('#pinned .buy-btn').disabled")
    await page.click("#pinned .buy-btn")
    await page.wait_for("document.querySelector('#checkout').open")
    await page.wait_for("!document.querySelector('#co-coupon').disabled", 10)


async def pick_and_check_price(page: Page) -> None:
    """Size M (1.00 dearer); the best coupon (2.00 off) is applied: 100.00 − 2.00 = 98.00.
    L has nothing left: its button says so and cannot be picked, as the card says."""
    await page.wait_for(visible('#checkout .co-value[data-value="M"]'))
    large = '#checkout .co-value[data-value="L"]'
    assert await page.eval(f"document.querySelector({js(large)}).disabled")
    assert "sold out" in await page.text(large)
    assert "L sold out" in await page.text("#pinned .variant-left")
    await page.click('#checkout .co-value[data-value="M"]')
    await page.wait_for(
        "document.querySelector('#checkout .co-value[data-value=\"M\"]')"
        ".getAttribute('aria-pressed') === 'true'"
    )
    await page.wait_for(has_text("#checkout .co-total", "98.00"))
    assert "100.00" in await page.text("#checkout .co-subtotal")
    assert "2.00" in await page.text("#checkout .co-discount")
    assert "2 off" in await page.eval(
        "document.querySelector('#co-coupon').selectedOptions[0].textContent"
    )
    assert "98.00" in await page.text("#checkout .co-pay")


async def enter_address(page: Page) -> None:
    """An invalid phone first: the server refuses it and the error shows by that field."""
    await page.wait_for(has_text("#checkout .co-address-text", "No shipping address"))
    await page.click("#checkout .co-address-edit")
    await page.wait_for(visible("#co-address-form"))
    for name, value in {**ADDRESS, "phone": "call me"}.items():
        await page.fill(f"#co-address-form [name={name}]", value)
    await page.eval("document.querySelector('#co-address-form').requestSubmit()")
    await page.wait_for(visible("#co-addr-phone-err"))
    assert "digits" in await page.text("#co-addr-phone-err")
    assert await page.eval(
        "document.querySelector('#co-addr-phone').getAttribute('aria-invalid') === 'true'"
    )
    assert await page.eval("document.activeElement.id") == "co-addr-phone"
    await page.fill("#co-address-form [name=phone]", ADDRESS["phone"])
    await page.eval("document.querySelector('#co-address-form').requestSubmit()")
    await page.wait_for(has_text("#checkout .co-address-text", ADDRESS["line1"]))
    assert await page.eval("document.querySelector('#co-address-form').hidden")


def unexpected(errors: list[str]) -> list[str]:
    """The page's errors but the one the test provokes: the refused address (a 400)."""
    return [e for e in errors if not ("/api/me/address" in e and "400" in e)]


def no_address_shown(address: dict[str, str]) -> str:
    words = [address["name"], address["line1"], address["phone"]]
    return f"!{js(words)}.some(w => document.body.innerText.includes(w))"


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_checkout_with_variant_coupon_address_and_dev_payment(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    s = shop(server, tag)
    buyer = token(server, f"co_buyer_{tag}", "viewer", "Buyer")
    other = token(server, f"co_other_{tag}", "viewer", "Other")
    page = await open_page(browser, server, f"/watch/{s['room']}", buyer, *size)
    await page.wait_for(CONNECTED)
    watcher = await open_page(browser, server, f"/watch/{s['room']}", other, *size)
    await watcher.wait_for(CONNECTED)

    await claim_pinned_coupon(page, s["coupon"])
    await open_sheet(page, s["product"])
    assert await page.text("#co-title") == "Hoodie <b>warm</b>"  # text, never markup
    await pick_and_check_price(page)
    await enter_address(page)
    await fits(page)
    assert await axe_violations(page, "#checkout") == []
    await page.screenshot(f"checkout-{tag}-ready")

    await page.click("#checkout .co-pay")
    await page.wait_for("document.querySelector('#checkout .co-result')?.dataset.state === 'paid'")
    assert "Paid" in await page.text("#checkout .co-result-title")
    assert "98.00" in await page.text("#checkout .co-order-amount")
    assert ADDRESS["line1"] in await page.text("#checkout .co-order-address")
    await page.screenshot(f"checkout-{tag}-paid")
    await page.click("#checkout .co-done")
    await page.wait_for("!document.querySelector('#checkout').open")
    await page.wait_for("!!document.querySelector('#my-orders li[data-state=paid]')")
    assert "(M)" in await page.text("#my-orders li[data-state=paid] .order-title")
    assert "98.00" in await page.text("#my-orders li[data-state=paid] .price")
    assert not await page.eval("!!document.querySelector('#my-orders .pay-btn')")

    (order,) = http("GET", f"{server}/api/me/orders", token=buyer)["orders"]
    assert (order["state"], order["amount"], order["discount"]) == ("paid", 9800, 200)
    assert order["variant"] == {"Size": "M"}
    assert order["address"]["line1"] == ADDRESS["line1"]

    # a second purchase (S; the coupon is used up: no discount, and the list says why); the
    # price the buyer saw is refused as changed: the sheet shows the total and asks again,
    # and the next tap is a new attempt with a new key
    await page.eval(STALE_FIRST_PRICE)
    await open_sheet(page, s["product"])
    await page.wait_for(has_text("#checkout .co-total", "99.00"))
    assert "No coupon" in await page.eval(
        "document.querySelector('#co-coupon').selectedOptions[0].textContent"
    )
    assert "already used" in await page.text("#co-coupon")
    await page.click("#checkout .co-pay")
    await page.wait_for(has_text("#checkout .co-msg", "The price changed"))
    assert "99.00" in await page.text("#checkout .co-msg")
    assert http("GET", f"{server}/api/me/orders", token=buyer)["orders"] == [order]
    await page.wait_for("!document.querySelector('#checkout .co-pay').disabled")
    await page.click("#checkout .co-pay")
    await page.wait_for("document.querySelector('#checkout .co-result')?.dataset.state === 'paid'")
    await page.click("#checkout .co-done")
    orders = http("GET", f"{server}/api/me/orders", token=buyer)["orders"]
    assert sorted(o["variant"]["Size"] for o in orders) == ["M", "S"]
    keys = await page.eval("window.sentKeys")
    assert len(keys) == 2 and keys[0] != keys[1] and order["idempotency_key"] not in keys
    # the other viewer saw the purchase happen, never the buyer's address
    assert await watcher.eval(no_address_shown(ADDRESS))
    assert http("GET", f"{server}/api/me/address", token=other)["address"] is None
    assert unexpected(page.errors) == [], page.errors
    assert watcher.errors == [], watcher.errors


@pytest.fixture(scope="module")
def webhook_server(browser_net: BrowserNetwork) -> Iterator[str]:
    """A second server whose payments are confirmed by the gateway's signed webhook."""
    proc = ServerProcess(browser_net)
    env = {"LIVE_PAYMENTS_PROVIDER": "webhook", "LIVE_PAYMENTS_WEBHOOK_SECRET": WEBHOOK_SECRET}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        proc.start()
    try:
        yield proc.url
    finally:
        proc.remove()


def send_webhook(base: str, order: dict[str, Any]) -> Any:
    """The gateway's notice that the order was paid, signed as the gateway signs it."""
    raw = json.dumps({"id": f"evt_{order['id'][-8:]}", "type": "payment.succeeded",
                      "order_id": order["id"], "amount": order["amount"],
                      "reference": "gw_test"}).encode()
    req = urllib.request.Request(f"{base}/api/payments/webhook", data=raw, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Live-Signature", sign(WEBHOOK_SECRET, int(time.time()), raw))
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode())


@pytest.mark.system
async def test_checkout_waits_for_the_webhook_payment(
        webhook_server: str, browser: Browser) -> None:
    base = webhook_server
    s = shop(base, "wh")
    buyer = token(base, "co_buyer_wh", "viewer", "Buyer")
    page = await open_page(browser, base, f"/watch/{s['room']}", buyer, *PHONE)
    await page.wait_for(CONNECTED)
    await claim_pinned_coupon(page, s["coupon"])
    await open_sheet(page, s["product"])
    await pick_and_check_price(page)
    await enter_address(page)

    await page.click("#checkout .co-pay")
    await page.wait_for(
        "document.querySelector('#checkout .co-result')?.dataset.state === 'waiting'"
    )
    assert "Waiting for payment" in await page.text("#checkout .co-result")
    await fits(page)
    assert await axe_violations(page, "#checkout") == []
    await page.screenshot("checkout-webhook-waiting")
    (order,) = http("GET", f"{base}/api/me/orders", token=buyer)["orders"]
    assert order["state"] == "reserved"
    # closed meanwhile: "My orders" lists it reserved, and resuming reopens the same wait
    await page.click("#checkout .co-done")
    await page.wait_for("!document.querySelector('#checkout').open")
    reserved = "#my-orders li[data-state=reserved]"
    await page.click("#shelf-toggle")  # on a phone the orders are in the shop's sheet
    await page.wait_for(has_text(f"{reserved} .order-expiry", "reserved until"))
    await page.eval("document.querySelector('#checkout .co-result').dataset.state = ''")
    await page.click(f"{reserved} .resume-btn")
    await page.wait_for("document.querySelector('#checkout').open")
    await page.wait_for(
        "document.querySelector('#checkout .co-result')?.dataset.state === 'waiting'"
    )

    paid = send_webhook(base, order)
    assert paid["order"]["state"] == "paid"
    # the sheet follows the pushed order event: no reload, no polling by the test
    await page.wait_for("document.querySelector('#checkout .co-result')?.dataset.state === 'paid'")
    assert "98.00" in await page.text("#checkout .co-order-amount")
    await page.wait_for("!!document.querySelector('#my-orders li[data-state=paid]')")
    await page.screenshot("checkout-webhook-paid")
    assert unexpected(page.errors) == [], page.errors


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_studio_variant_editor(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    """The creator defines an option and its variants' stock, price adjustment and image in
    the product form; the catalogue shows stock per variant; editing keeps the variants' ids."""
    tag = f"{size[0]}"
    creator = token(server, f"co_studio_{tag}", "creator", "Studio")
    make_room(server, creator, f"Variant studio {tag}")
    studio = await open_page(browser, server, "/studio", creator, *size)
    await studio.wait_for("!!document.querySelector('#product-form .option-add')")
    await studio.click("#product-form .option-add")
    await studio.fill("#product-form .option-name", "Size")
    await studio.fill("#product-form .option-values", "S, M, M")  # a repeat counts once
    await studio.wait_for("document.querySelectorAll('#product-form .variant-table tbody tr')"
                          ".length === 2")
    row = "#product-form .variant-table tbody tr"
    await studio.fill(f"{row}:nth-child(1) .variant-stock", "5")
    await studio.fill(f"{row}:nth-child(2) .variant-stock", "3")
    await studio.fill(f"{row}:nth-child(2) .variant-price", "+1.50")
    await studio.fill(f"{row}:nth-child(2) .variant-image", "/static/m.png")
    assert await studio.eval("document.querySelector('#product-form [name=stock]').value") == "8"
    await studio.submit("#product-form", title="Tee", list_price="20", live_price="15",
                        currency="CNY", per_buyer_limit="2", commission="0")
    await studio.wait_for(has_text("#catalogue", "Tee"))
    (product,) = http("GET", f"{server}/api/products", token=creator)["products"]
    assert product["options"] == [{"name": "Size", "values": ["S", "M"]}]
    by_size = {v["options"]["Size"]: v for v in product["variants"]}
    assert (by_size["S"]["stock"], by_size["M"]["stock"]) == (5, 3)
    assert (by_size["S"]["price_delta"], by_size["M"]["price_delta"]) == (0, 150)
    assert by_size["M"]["image_url"] == "/static/m.png"
    listed = f'#catalogue tr[data-product="{product["id"]}"] .variant-stock-list'
    await studio.wait_for(has_text(listed, "S: 5"))
    assert "M: 3" in await studio.text(listed)
    assert await studio.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # edit: the grid comes back filled; a changed stock keeps the variant's id
    await studio.eval(
        f"[...document.querySelectorAll('#catalogue tr[data-product=\"{product['id']}\"] button')]"
        ".find(b => b.textContent === 'Edit').click()"
    )
    await studio.wait_for(f"document.querySelector('{row}:nth-child(2) .variant-stock')"
                          "?.value === '3'")
    assert await studio.eval(
        f"document.querySelector('{row}:nth-child(2) .variant-price').value") == "+1.50"
    await studio.fill(f"{row}:nth-child(2) .variant-stock", "4")
    await studio.eval("document.querySelector('#product-form').requestSubmit()")
    await studio.wait_for(has_text(listed, "M: 4"))
    (edited,) = http("GET", f"{server}/api/products", token=creator)["products"]
    assert {v["id"] for v in edited["variants"]} == {v["id"] for v in product["variants"]}
    assert {v["options"]["Size"]: v["stock"] for v in edited["variants"]} == {"S": 5, "M": 4}
    await studio.screenshot(f"studio-variants-{tag}")
    assert studio.errors == [], studio.errors
