// Small DOM helpers. Every piece of text goes in through textContent / createTextNode:
// these helpers have no way to set HTML, on purpose.

const FORBIDDEN = new Set(["innerHTML", "outerHTML", "insertAdjacentHTML", "srcdoc"]);

/**
 * el("button", {className: "btn", text: "Go", on: {click: fn}, attrs: {"aria-label": "x"}}, ...children)
 * children: strings (become text nodes), nodes, arrays, null/undefined/false (skipped).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (FORBIDDEN.has(key)) throw new Error(`el(): ${key} is not allowed`);
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key === "on") {
      for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
    } else if (key === "attrs") {
      for (const [name, v] of Object.entries(value)) {
        if (v === false || v === null || v === undefined) continue;
        if (/^on/i.test(name)) throw new Error(`el(): attribute ${name} is not allowed`);
        node.setAttribute(name, v === true ? "" : String(v));
      }
    } else if (key === "dataset") {
      for (const [name, v] of Object.entries(value)) node.dataset[name] = String(v);
    } else {
      node[key] = value;
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Replace the children of node with the given children. */
export function replace(node, ...children) {
  clear(node);
  return append(node, children);
}

export function setText(node, text) {
  if (node) node.textContent = text === null || text === undefined ? "" : String(text);
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtDateTime(ms) {
  if (ms === null || ms === undefined || ms === 0) return "—";
  const d = new Date(ms);
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return fmtTime(ms);
  return d.toLocaleString([], {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** "3 s", "2 min", "1 h 5 min" */
export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export function fmtAgo(ms) {
  if (!ms) return "—";
  return `${fmtDuration(Date.now() - ms)} ago`;
}

/** 1234 -> "1,234"; 1234567 -> "1.2M" */
export function fmtCount(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "0";
  n = Number(n);
  if (n >= 10_000_000) return `${(n / 1_000_000).toFixed(0)}M`;
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  return n.toLocaleString();
}

/** A status line that can show a message for a while. kind: "info" | "error" | "ok". */
export function flash(node, text, kind = "info", ms = 5000) {
  if (!node) return;
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = !text;
  clearTimeout(node._flashTimer);
  if (ms && text) {
    node._flashTimer = setTimeout(() => {
      node.textContent = "";
      node.hidden = true;
    }, ms);
  }
}

/** Copy text to the clipboard; falls back to selecting an input. */
export async function copyText(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackInput) {
      fallbackInput.focus();
      fallbackInput.select();
      try {
        return document.execCommand("copy");
      } catch {
        return false;
      }
    }
    return false;
  }
}

/** Only http(s) and same-origin paths may become an image source. */
export function safeImageUrl(url) {
  if (typeof url !== "string" || !url) return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

export function stateBadge(state) {
  const s = String(state || "unknown");
  return el("span", { className: `badge state-${s.replace(/[^a-z_]/g, "")}`, text: s });
}

/** A short message at the bottom of the page (element #toast). */
export function toast(text, kind = "info", ms = 4000) {
  let node = document.getElementById("toast");
  if (!node) {
    node = el("div", { id: "toast", className: "toast", hidden: true, attrs: { role: "status" } });
    document.body.appendChild(node);
  }
  flash(node, text, kind, ms);
}
