// The studio's "Charity show" panel: choose a registered beneficiary, a percentage and the
// proceeds it covers (paid orders, gifts, red-packet remainders); locked once proceeds were
// earmarked under the terms; the earmarked total kept current while the show runs.

import { api, describeError } from "./api.js";
import { $, el } from "./dom.js";
import { fmtMoney } from "./money.js";
import { SOURCE_NAMES, termsText } from "./charity-terms.js";

const REFRESH_MS = 10000;

/** "12.5" → 1250 basis points; null when it is not a percentage between 0.01 and 100. */
export function percentToBp(text) {
  const m = /^\s*(\d{1,3})(?:[.,](\d{1,2}))?\s*%?\s*$/.exec(String(text));
  if (!m) return null;
  const bp = Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  return bp >= 1 && bp <= 10000 ? bp : null;
}

/** mountStudioCharity({notify}) → {select(room)} */
export function mountStudioCharity({ notify }) {
  const root = $("#charity-section");
  let room = null;
  let timer = 0;

  const ben = el("select", { name: "beneficiary_id", id: "charity-ben", required: true });
  const percent = el("input", { name: "percent", id: "charity-percent", attrs: { inputmode: "decimal", placeholder: "e.g. 10", required: true } });
  const boxes = Object.keys(SOURCE_NAMES).map((s) => el("input", { type: "checkbox", name: "sources", value: s, id: `charity-src-${s}` }));
  const save = el("button", { type: "submit", className: "btn btn-primary", id: "charity-save", text: "Make it a charity show" });
  const clearBtn = el("button", { type: "button", className: "btn", id: "charity-clear", text: "Not a charity show", hidden: true });
  const msg = el("p", { className: "msg", id: "charity-msg", attrs: { role: "status" }, hidden: true });
  const status = el("p", { id: "charity-status", className: "charity-status" });
  const total = el("p", { id: "charity-total", className: "charity-live-total", hidden: true });
  const receipt = el("a", { id: "charity-receipt", text: "Public receipt", hidden: true });
  const form = el("form", { id: "charity-form", className: "sale-form", autocomplete: "off" },
    el("div", { className: "form-grid" },
      el("label", { className: "span2" }, "Beneficiary ", ben),
      el("label", {}, "Percent of proceeds ", percent),
      el("fieldset", { className: "charity-sources span2" },
        el("legend", { text: "Proceeds covered" }),
        boxes.map((b) => el("label", { className: "row" }, b, SOURCE_NAMES[b.value])))),
    el("div", { className: "row" }, save, clearBtn));
  root.replaceChildren(el("h2", { text: "Charity show" }), status, total, form, msg, receipt);

  function say(text, kind = "info") {
    msg.textContent = text;
    msg.dataset.kind = kind;
    msg.hidden = !text;
  }

  function render(data) {
    const chosen = data.terms ? data.terms.beneficiary_id : ben.value;
    ben.replaceChildren(...data.beneficiaries.map((b) => el("option", { value: b.id, text: b.name })));
    if (!data.beneficiaries.length) ben.append(el("option", { value: "", text: "No beneficiary registered yet (ops adds them)" }));
    if (chosen) ben.value = chosen;
    const locked = !!(data.charity && data.terms.locked);
    const ended = data.state === "ended";
    if (data.charity) {
      percent.value = String(data.terms.bp / 100);
      for (const b of boxes) b.checked = data.terms.sources.includes(b.value);
      status.textContent = `${termsText(data.terms)} go to ${data.beneficiary.name}.` +
        (locked ? " Locked: proceeds were earmarked under these terms." : "");
      total.textContent = `Earmarked so far: ${fmtMoney(data.total, data.currency)}`;
      receipt.href = `/charity/${encodeURIComponent(data.room_id)}`;
    } else {
      status.textContent = "Not a charity show. Choose a beneficiary, a percentage and the proceeds to give.";
    }
    total.hidden = receipt.hidden = !data.charity;
    for (const c of [ben, percent, save, ...boxes]) c.disabled = locked || ended;
    clearBtn.hidden = !data.charity || locked || ended;
    save.textContent = data.charity ? "Save the terms" : "Make it a charity show";
  }

  async function load() {
    clearTimeout(timer);
    if (!room) return;
    const id = room.id;
    try {
      const data = await api("GET", `/api/rooms/${encodeURIComponent(id)}/charity/terms`);
      if (!room || room.id !== id) return;
      render(data);
      if (data.state !== "ended") timer = setTimeout(load, REFRESH_MS);
    } catch (err) {
      say(describeError(err), "error");
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const bp = percentToBp(percent.value);
    const sources = boxes.filter((b) => b.checked).map((b) => b.value);
    if (bp === null) return say("The percentage must be between 0.01 and 100.", "error");
    if (!sources.length) return say("Choose at least one kind of proceeds.", "error");
    try {
      await api("PUT", `/api/rooms/${encodeURIComponent(room.id)}/charity`, { beneficiary_id: ben.value, bp, sources });
      say("Saved.");
      notify("Charity terms saved");
      load();
    } catch (err) {
      say(describeError(err), "error");
    }
  });

  clearBtn.addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/rooms/${encodeURIComponent(room.id)}/charity`);
      say("This show is no longer a charity show.");
      load();
    } catch (err) {
      say(describeError(err), "error");
    }
  });

  function select(next) {
    room = next;
    say("");
    load();
  }

  return { select };
}
