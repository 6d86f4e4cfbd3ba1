// The login box in the page header: shows who you are; gets a development token
// (POST /api/dev/token) or takes a pasted token; keeps it in localStorage. An action that
// needed a login (requireLogin) is run once the login succeeds, so the viewer's click counts.

import { api, ApiError, currentUser, decodeToken, describeError, onTokenChangedElsewhere, setToken } from "./api.js";
import { el, replace, flash } from "./dom.js";

let pendingAction = null; // what the viewer tried before the login box opened
let openLoginBox = null; // the header's login box

/** The signed-in role, or "" for a guest or an expired token: what the header links follow. */
function activeRole() {
  const me = currentUser();
  return me && !me.expired ? me.role : "";
}

/**
 * requireLogin(action): run action() now when logged in; otherwise open the login box and run
 * it once the login succeeds (on a page that can take the new identity without reloading:
 * mountAuth's `resume`), so a buy or a grab is not lost to the login. Closing the box forgets it.
 */
export function requireLogin(action) {
  if (activeRole()) return action();
  pendingAction = action;
  if (openLoginBox) openLoginBox();
  return undefined;
}

/**
 * mountAuth(container, {onChange, resume, onRender, defaultRole}) renders the box.
 * onChange() runs after the token changes (default: reload the page). After a login that
 * requireLogin asked for, a page with resume() (an async switch to the new token without
 * reloading) is resumed instead, then the remembered action runs.
 */
export function mountAuth(container, { onChange = () => location.reload(), resume = null, onRender = () => {}, defaultRole = "viewer" } = {}) {
  const who = el("span", { className: "auth-who" });
  const toggle = el("button", { type: "button", className: "btn btn-small auth-toggle", attrs: { "aria-expanded": "false" } });
  const panel = el("div", { className: "auth-panel", hidden: true });
  const msg = el("p", { className: "msg", hidden: true, attrs: { role: "status" } });

  const userInput = el("input", { name: "user", placeholder: "user id, e.g. alice", required: true, autocomplete: "username", maxLength: 64 });
  const nameInput = el("input", { name: "name", placeholder: "display name (optional)", maxLength: 64 });
  const roleSelect = el("select", { name: "role" },
    ["viewer", "creator", "ops"].map((r) => el("option", { value: r, text: r, selected: r === defaultRole })));
  const devForm = el("form", { className: "stack" },
    el("strong", { text: "Development login" }),
    el("label", {}, "User id", userInput),
    el("label", {}, "Name", nameInput),
    el("label", {}, "Role", roleSelect),
    el("button", { type: "submit", className: "btn btn-primary", text: "Get a token" }));
  const pasteInput = el("textarea", { name: "token", rows: 3, placeholder: "paste a token (eyJ…)", spellcheck: false });
  const pasteForm = el("form", { className: "stack" },
    el("strong", { text: "Or paste a token" }),
    pasteInput,
    el("button", { type: "submit", className: "btn", text: "Use this token" }));
  const logout = el("button", { type: "button", className: "btn btn-small auth-logout", text: "Log out" });
  const elsewhere = el("button", {
    type: "button", className: "btn btn-small badge-warn auth-reload", hidden: true,
    text: "Login changed in another tab — reload", on: { click: () => location.reload() },
  });

  panel.append(devForm, pasteForm, msg);
  replace(container, el("div", { className: "auth" }, elsewhere, who, toggle, logout, panel));
  onTokenChangedElsewhere(() => {
    elsewhere.hidden = false;
  });

  function render() {
    const me = currentUser();
    if (me) {
      replace(who,
        el("span", { className: "auth-name", text: me.name || me.id, title: `user id: ${me.id}` }),
        el("span", { className: `badge role-${me.role.replace(/[^a-z]/g, "")}`, text: me.role }),
        me.expired ? el("span", { className: "badge badge-warn", text: "expired" }) : null);
      toggle.textContent = "Switch";
      logout.hidden = false;
    } else {
      replace(who, el("span", { className: "muted", text: "Guest" }));
      toggle.textContent = "Log in";
      logout.hidden = true;
    }
    onRender();
  }

  function openPanel(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) userInput.focus();
    else pendingAction = null;
  }

  /** After a new token: run the action the login was for, else let the page follow. */
  async function loggedIn() {
    const action = pendingAction;
    openPanel(false);
    render();
    if (!action || !resume) {
      onChange();
      return;
    }
    try {
      await resume();
      await action();
    } catch (err) {
      flash(msg, describeError(err), "error", 8000);
    }
  }

  toggle.addEventListener("click", () => openPanel(panel.hidden));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) openPanel(false);
  });
  logout.addEventListener("click", () => {
    setToken(null);
    render();
    onChange();
  });

  devForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const user = userInput.value.trim();
    if (!user) return;
    const body = { user, role: roleSelect.value };
    if (nameInput.value.trim()) body.name = nameInput.value.trim();
    try {
      const data = await api("POST", "/api/dev/token", body, { auth: false });
      if (!data.token) throw new ApiError("bad_response", "No token in the answer.");
      setToken(data.token);
      await loggedIn();
    } catch (err) {
      const text = err.status === 404 || err.status === 403
        ? "Development login is off on this server; paste a token instead."
        : describeError(err);
      flash(msg, text, "error", 8000);
    }
  });

  pasteForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const token = pasteInput.value.trim();
    if (!decodeToken(token)) {
      flash(msg, "That does not look like a token.", "error", 6000);
      return;
    }
    setToken(token);
    pasteInput.value = "";
    loggedIn();
  });

  render();

  // Check the stored token with the server once; say so when it is refused.
  const stored = currentUser();
  if (stored && !stored.expired) {
    api("GET", "/api/me").catch((err) => {
      if (err.status === 401) {
        replace(who, el("span", { className: "badge badge-warn", text: err.code === "token_expired" ? "login expired" : "invalid token" }));
        toggle.textContent = "Log in";
      }
    });
  }
  openLoginBox = () => openPanel(true);
  return { render, open: () => openPanel(true) };
}

// [href, label, key, who sees it ("": everyone)]
const NAV = [
  ["/", "Live", "live", ""],
  ["/studio", "Studio", "studio", "creator"],
  ["/shows", "My shows", "shows", "creator"],
  ["/ops", "Ops", "ops", "ops"],
  ["/api/docs", "API", "api", ""],
];

/** The page header with navigation and the login box; returns the auth handle. */
export function mountHeader(active, options = {}) {
  const header = document.getElementById("top");
  const nav = el("nav", { className: "nav", attrs: { "aria-label": "Main" } });
  const links = () => {
    const role = activeRole();
    replace(nav, NAV.filter(([, , , who]) => !who || who === role).map(([href, label, key]) =>
      el("a", { href, text: label, className: key === active ? "active" : "", attrs: key === active ? { "aria-current": "page" } : {} })));
  };
  const authBox = el("div", { className: "auth-slot" });
  replace(header, el("a", { className: "brand", href: "/", text: "live" }), nav, authBox);
  const onRender = options.onRender;
  return mountAuth(authBox, { ...options, onRender: () => { links(); if (onRender) onRender(); } });
}
