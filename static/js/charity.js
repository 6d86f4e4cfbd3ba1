// A charity show's public receipt: the beneficiary, the terms, the totals per source, the
// total earmarked, how to check it, and the entries to download (GET /api/rooms/{id}/charity).

import { api, describeError } from "./api.js";
import { mountHeader } from "./auth.js";
import { $, el, replace, setText } from "./dom.js";
import { fmtMoney } from "./money.js";
import { SOURCE_NAMES, termsText } from "./charity-terms.js";

mountHeader("");
const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
load();

async function load() {
  let r;
  try {
    r = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/charity`, undefined, { auth: false });
  } catch (err) {
    showMsg(describeError(err));
    return;
  }
  setText($("#charity-show"), `${r.title} · ${r.state}`);
  if (!r.charity) {
    showMsg("This show is not a charity show.");
    return;
  }
  $("#charity-body").hidden = false;
  setText($("#charity-beneficiary"), r.beneficiary.name || r.beneficiary.id);
  setText($("#charity-description"), r.beneficiary.description || "");
  const link = $("#charity-url");
  if (r.beneficiary.url && /^https?:\/\//.test(r.beneficiary.url)) {
    link.href = r.beneficiary.url;
    setText(link, r.beneficiary.url);
    link.hidden = false;
  }
  setText($("#charity-terms"), `${termsText(r.terms)} go to ${r.beneficiary.name}.${r.terms.locked ? " These terms are locked." : ""}`);
  replace($("#charity-rows"), Object.entries(r.totals).map(([source, t]) => el("tr", {},
    el("th", { text: SOURCE_NAMES[source] || source, attrs: { scope: "row" } }),
    el("td", { className: "num", text: String(t.entries) }),
    el("td", { className: "num", text: r.terms.sources.includes(source) ? fmtMoney(t.amount, r.currency) : "not covered" }))));
  setText($("#charity-count"), String(r.entries));
  setText($("#charity-total"), fmtMoney(r.total, r.currency));
  setText($("#charity-statement"), r.statement);
  $("#charity-entries").href = r.entries_url;
  $("#charity-entries").setAttribute("download", `charity-${roomId}.json`);
  $("#charity-watch").href = `/watch/${encodeURIComponent(roomId)}`;
}

function showMsg(text) {
  const m = $("#charity-msg");
  setText(m, text);
  m.hidden = false;
}
