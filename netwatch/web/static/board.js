// The status board: polls /api/v1/board and rebuilds the page with textContent only (never innerHTML).
"use strict";

const TEXTS = {
  vi: { phase: "Giai đoạn", on_duty: "Trực ca", updated: "Cập nhật", incidents: "Sự cố đang mở", state: "Trạng thái",
        what: "Đối tượng", age: "Thời gian", ack: "Xác nhận", detail: "Chi tiết", no_incidents: "Không có sự cố.",
        none: "—", stale: "mất kết nối tới netwatch", switch: "English", title: "Bảng trạng thái",
        not_acked: "chưa", operator: "Trực ca đăng nhập", op_name: "Tên", op_secret: "Mật khẩu hoặc token",
        op_use: "Dùng", ack_button: "Xác nhận", signed_in: "đã đăng nhập: ", ack_failed: "không xác nhận được: ",
        insecure_listen: "CẢNH BÁO: netwatch mở ra mạng mà không có HTTPS: mật khẩu và token đi qua mạng không mã hoá." },
  en: { phase: "Phase", on_duty: "On duty", updated: "Updated", incidents: "Open incidents", state: "State",
        what: "What", age: "Age", ack: "Ack", detail: "Detail", no_incidents: "No incidents.",
        none: "—", stale: "lost contact with netwatch", switch: "Tiếng Việt", title: "Status board",
        not_acked: "no", operator: "Operator sign-in", op_name: "Name", op_secret: "Password or token",
        op_use: "Use", ack_button: "Acknowledge", signed_in: "signed in: ", ack_failed: "acknowledge failed: ",
        insecure_listen: "WARNING: netwatch listens beyond loopback without HTTPS: passwords and tokens cross the network in clear." },
};
const ORDER = ["down", "unreachable", "degraded", "unknown", "maintenance", "up"];

let lang = (localStorage.getItem("netwatch-lang") === "en") ? "en" : "vi";
let last = null;
let failures = 0;
// Operator credentials live in this page's memory only (never a cookie or storage): each ack sends
// them in the Authorization header, which another site cannot make the browser send.
let operator = null;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function stateName(data, state) {
  const names = (data && data.state_names && data.state_names[lang]) || {};
  return names[state] || state;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : (m ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`);
}

function clock(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString(lang === "vi" ? "vi-VN" : "en-GB") : "—";
}

function applyTexts() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-t]")) {
    node.textContent = TEXTS[lang][node.dataset.t] || node.textContent;
  }
  document.getElementById("lang").textContent = TEXTS[lang].switch;
}

function render(data) {
  const t = TEXTS[lang];
  document.getElementById("site").textContent = data.site || "netwatch";
  document.title = `${data.site || "netwatch"} — ${t.title}`;
  document.getElementById("event").textContent = data.event || "";
  document.getElementById("phase").textContent = data.phase ? (data.phase.name || data.phase.id) : t.none;
  document.getElementById("duty").textContent =
    (data.on_duty || []).map((c) => c.phone ? `${c.name} (${c.phone})` : c.name).join(", ") || t.none;
  document.getElementById("updated").textContent = clock(data.generated_at);
  const warning = document.getElementById("warning");
  warning.textContent = (data.warnings || []).map((w) => t[w] || w).join(" ");
  warning.hidden = !warning.textContent;

  const counts = document.getElementById("counts");
  counts.replaceChildren();
  for (const state of ORDER) {
    const n = (data.counts || {})[state] || 0;
    if (!n) continue;
    const badge = el("span", `count s-${state}`, `${stateName(data, state)}: ${n}`);
    badge.dataset.state = state;
    counts.append(badge);
  }

  const zones = document.getElementById("zones");
  zones.replaceChildren();
  for (const zone of data.zones || []) {
    const box = el("section", `zone s-${zone.state}`);
    box.dataset.zone = zone.id;
    box.dataset.state = zone.state;
    const title = el("h3");
    title.append(el("span", "", zone.name || zone.id || "—"), el("span", "", stateName(data, zone.state)));
    box.append(title);
    const tiles = el("div", "tiles");
    for (const tile of zone.tiles || []) {
      const node = el("div", `tile s-${tile.state}`);
      node.dataset.target = tile.id;
      node.dataset.state = tile.state;
      node.title = [tile.name, tile.descr, tile.detail].filter(Boolean).join("\n");
      node.append(el("div", "name", tile.name));
      let line = stateName(data, tile.state);
      if (tile.error) line += ` · ${tile.error}`;
      node.append(el("div", "state", line));
      if (tile.state !== "up" && tile.detail) node.append(el("div", "detail", tile.detail));
      else if (tile.descr) node.append(el("div", "detail", tile.descr));
      tiles.append(node);
    }
    box.append(tiles);
    zones.append(box);
  }

  const body = document.querySelector("#incidents tbody");
  body.replaceChildren();
  for (const inc of data.incidents || []) {
    const row = el("tr");
    row.dataset.check = inc.check;
    const badgeCell = el("td");
    badgeCell.append(el("span", `badge s-${inc.state}`, stateName(data, inc.state)));
    const ackCell = el("td", "", inc.acknowledged_by || t.not_acked);
    if (operator && inc.id && !inc.acknowledged_by) {
      const button = el("button", "ack", t.ack_button);
      button.type = "button";
      button.dataset.incident = String(inc.id);
      button.addEventListener("click", () => acknowledge(inc.id));
      ackCell.replaceChildren(button);
    }
    row.append(badgeCell, el("td", "", `${inc.id ? "#" + inc.id + " " : ""}${inc.name} (${inc.check})`),
               el("td", "", age(inc.age_seconds)), ackCell,
               el("td", "", [inc.error, inc.detail].filter(Boolean).join(": ")));
    body.append(row);
  }
  document.getElementById("no-incidents").hidden = (data.incidents || []).length > 0;
}

function authorization() {
  if (!operator) return null;
  if (operator.name) {
    const bytes = new TextEncoder().encode(`${operator.name}:${operator.secret}`);
    return "Basic " + btoa(String.fromCharCode(...bytes));
  }
  return "Bearer " + operator.secret;
}

async function acknowledge(id) {
  const status = document.getElementById("signin-status");
  try {
    const response = await fetch(`/api/v1/board/incidents/${encodeURIComponent(id)}/ack`, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Authorization": authorization() },
      body: JSON.stringify({ note: "" }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    status.textContent = "";
  } catch (err) {
    status.textContent = TEXTS[lang].ack_failed + err.message;
    document.getElementById("signin").hidden = false;
  }
  refreshSoon();
}

let timer = null;
function refreshSoon() {
  if (timer) clearTimeout(timer);
  timer = setTimeout(poll, 50);
}

async function poll() {
  let delay = 2000;
  try {
    const response = await fetch("/api/v1/board", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    last = await response.json();
    failures = 0;
    render(last);
    document.getElementById("stale").hidden = true;
    delay = Math.max(1, last.refresh_seconds || 2) * 1000;
  } catch (err) {
    failures += 1;
    const stale = document.getElementById("stale");
    stale.textContent = TEXTS[lang].stale;
    stale.hidden = false;
    delay = Math.min(30000, 2000 * failures);
  }
  if (timer) clearTimeout(timer);
  timer = setTimeout(poll, delay);
}

document.addEventListener("DOMContentLoaded", () => {
  applyTexts();
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "vi" ? "en" : "vi";
    localStorage.setItem("netwatch-lang", lang);
    applyTexts();
    if (last) render(last);
  });
  document.getElementById("signin-open").addEventListener("click", () => {
    const form = document.getElementById("signin");
    form.hidden = !form.hidden;
  });
  document.getElementById("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = document.getElementById("op-name").value.trim();
    const secret = document.getElementById("op-secret").value;
    operator = secret ? { name, secret } : null;
    document.getElementById("signin-status").textContent = operator ? TEXTS[lang].signed_in + (name || "token") : "";
    document.getElementById("op-secret").value = "";
    document.getElementById("signin").hidden = true;
    if (last) render(last);
  });
  poll();
});
