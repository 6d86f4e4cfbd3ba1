// The ops console's charity panel: the registered beneficiaries (add one: name, description,
// address) with what each was given (wallet earmarks, order earmarks), and every charity show
// with its terms and total, linked to its public receipt (GET /api/ops/charity).

import { api, describeError } from "./api.js";
import { el, replace } from "./dom.js";
import { fmtMoney } from "./money.js";
import { termsText } from "./charity-terms.js";

export function mountOpsCharity(section) {
  const bens = el("ul", { className: "list-plain ops-charity-bens", id: "ops-charity-bens" });
  const shows = el("ul", { className: "list-plain ops-charity-shows", id: "ops-charity-shows" });
  const name = el("input", { name: "name", id: "ben-name", required: true, maxLength: 80 });
  const description = el("input", { name: "description", id: "ben-description", maxLength: 280 });
  const url = el("input", { name: "url", id: "ben-url", type: "url", maxLength: 300, attrs: { placeholder: "https://" } });
  const msg = el("p", { className: "msg", attrs: { role: "status" }, hidden: true });
  const form = el("form", { className: "sale-form", id: "ben-form", autocomplete: "off" },
    el("div", { className: "form-grid" },
      el("label", {}, "Name ", name),
      el("label", {}, "Description ", description),
      el("label", {}, "Address ", url)),
    el("div", { className: "row" }, el("button", { type: "submit", className: "btn btn-primary", text: "Add beneficiary" })));
  replace(section, el("h2", { text: "Charity" }),
    el("h3", { text: "Beneficiaries" }), bens, form, msg,
    el("h3", { text: "Charity shows" }), shows);

  async function refresh() {
    try {
      const data = await api("GET", "/api/ops/charity");
      const cur = data.currency;
      const byId = new Map(data.beneficiaries.map((b) => [b.id, b]));
      replace(bens, ...(data.beneficiaries.length ? data.beneficiaries.map((b) => el("li", { dataset: { ben: b.id } },
        el("b", { text: b.name }), ` · ${b.id} · given ${fmtMoney(b.total, cur)}`,
        el("span", { className: "muted small", text: ` (wallet ${fmtMoney(b.wallet, cur)}, orders ${fmtMoney(b.orders, cur)})` })))
        : [el("li", { className: "empty", text: "No beneficiary registered." })]));
      replace(shows, ...(data.shows.length ? data.shows.map((s) => el("li", { dataset: { room: s.room_id } },
        el("a", { href: `/charity/${encodeURIComponent(s.room_id)}`, text: s.title || s.room_id }),
        ` · ${s.state} · ${termsText({ percent: `${s.bp / 100}%`, sources: s.sources })} to ${(byId.get(s.beneficiary_id) || {}).name || s.beneficiary_id}`,
        ` · ${fmtMoney(s.total, cur)}${s.locked ? " · locked" : ""}`))
        : [el("li", { className: "empty", text: "No charity show yet." })]));
    } catch (err) {
      replace(bens, el("li", { text: `Charity unavailable: ${describeError(err)}` }));
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/charity/beneficiaries", { name: name.value, description: description.value, url: url.value });
      form.reset();
      msg.hidden = true;
      refresh();
    } catch (err) {
      msg.textContent = describeError(err);
      msg.hidden = false;
    }
  });

  refresh();
  return { refresh };
}
