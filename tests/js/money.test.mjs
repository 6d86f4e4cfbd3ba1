// The one money formatter (static/js/money.js): integer cents in, the text a buyer reads out.
import assert from "node:assert/strict";
import { test } from "node:test";

import { centsDecimal, centsText, currentCurrency, fmtMoney, noteCurrency } from "../../static/js/money.js";
import { moneyInput, parseMoney } from "../../static/js/shelf.js";

test("a price in yuan reads with the yuan sign and two decimals", () => {
  assert.equal(fmtMoney(6990, "CNY"), "¥69.90");
  assert.equal(fmtMoney(1000, "CNY"), "¥10.00");
  assert.equal(fmtMoney(0, "CNY"), "¥0.00");
  assert.equal(fmtMoney(5, "CNY"), "¥0.05");
  assert.equal(fmtMoney(123456789, "CNY"), "¥1,234,567.89");
});

test("an amount that names no currency is shown in the deployment's", () => {
  noteCurrency("CNY");
  assert.equal(fmtMoney(888), "¥8.88");
  assert.equal(currentCurrency(), "CNY");
});

test("other currencies use their own symbol; a currency named once becomes the deployment's", () => {
  try {
    assert.equal(fmtMoney(6990, "USD"), "$69.90");
    assert.equal(currentCurrency(), "USD");
    assert.equal(fmtMoney(100), "$1.00");
    assert.equal(fmtMoney(100, "eur"), "€1.00");
  } finally {
    noteCurrency("CNY");
  }
});

test("a text that is not a currency code is shown beside the digits, and not remembered", () => {
  assert.equal(fmtMoney(150, "X1"), "X1 1.50");
  assert.equal(currentCurrency(), "CNY");
  noteCurrency("not a code");
  assert.equal(currentCurrency(), "CNY");
});

test("negative amounts keep their sign", () => {
  assert.equal(fmtMoney(-5, "CNY"), "-¥0.05");
  assert.equal(centsText(-123456), "-1,234.56");
  assert.equal(centsDecimal(-5), "-0.05");
});

test("amounts are exact to the cent, far beyond where floats would round", () => {
  // 2^53 - 1 cents: a float division by 100 could not show every one of these digits
  assert.equal(centsDecimal(Number.MAX_SAFE_INTEGER), "90071992547409.91");
  assert.equal(fmtMoney(Number.MAX_SAFE_INTEGER, "CNY"), "¥90,071,992,547,409.91");
  // 0.1 + 0.2 style traps: 10 cents + 20 cents is 30 cents
  assert.equal(fmtMoney(10 + 20, "CNY"), "¥0.30");
  assert.equal(fmtMoney(1005, "CNY"), "¥10.05");
});

test("not a number is zero, a fraction of a cent is dropped", () => {
  assert.equal(fmtMoney(undefined, "CNY"), "¥0.00");
  assert.equal(fmtMoney("abc", "CNY"), "¥0.00");
  assert.equal(fmtMoney(199.9, "CNY"), "¥1.99");
});

test("amounts typed into a form become integer cents, and come back unchanged", () => {
  assert.equal(parseMoney("12.30"), 1230);
  assert.equal(parseMoney("12.3"), 1230);
  assert.equal(parseMoney("12"), 1200);
  assert.equal(parseMoney("0,99"), 99);
  assert.equal(parseMoney("1 234.50"), 123450);
  assert.equal(parseMoney("12.345"), null);
  assert.equal(parseMoney("-1"), null);
  assert.equal(parseMoney("¥5"), null);
  assert.equal(parseMoney(""), null);
  for (const cents of [0, 1, 99, 1230, 123450, 100000000]) assert.equal(parseMoney(moneyInput(cents)), cents);
  assert.equal(moneyInput(123450), "1234.50"); // no grouping in an input field
});
