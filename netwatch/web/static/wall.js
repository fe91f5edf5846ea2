// The NOC wall: polls /api/v1/board and rebuilds the page with textContent only (never innerHTML).
"use strict";

const TEXTS = {
  vi: { phase: "Giai đoạn", on_duty: "Trực ca", incidents: "Sự cố đang mở", resolved: "Đã khắc phục gần đây",
        no_incidents: "Không có sự cố.", no_resolved: "Không có.", none: "—", switch: "English",
        title: "Bảng trạng thái", not_acked: "Chưa ai xác nhận", acked: "Đã xác nhận", operator: "Trực ca đăng nhập",
        op_name: "Tên", op_secret: "Mật khẩu hoặc token", op_use: "Dùng", ack_button: "Xác nhận",
        signed_in: "đã đăng nhập: ", ack_failed: "không xác nhận được: ", since: "bắt đầu", for: "kéo dài",
        lasted: "kéo dài", fixed_at: "khắc phục lúc", zone: "Khu vực", security: "AN NINH",
        security_long: "Sự cố an ninh", suspect: "nghi lỗi", recovering: "đang phục hồi",
        healthy: "hoạt động", problems: "sự cố", view_problems: "Chỉ sự cố", view_all: "Tất cả",
        compact: "Thu gọn", expand: "Đầy đủ", window_minutes: "({n} phút qua)",
        stale_title: "BẢNG KHÔNG CÒN NHẬN DỮ LIỆU TỪ NETWATCH",
        stale_body: "Màu sắc dưới đây là dữ liệu cũ, không phải tình trạng thiết bị. Kiểm tra máy chạy netwatch.",
        stale_last: "Cập nhật lần cuối", all_ok: "Tất cả thiết bị hoạt động bình thường",
        hidden_ok: "{n} thiết bị hoạt động",
        insecure_listen: "CẢNH BÁO: netwatch mở ra mạng mà không có HTTPS: mật khẩu và token đi qua mạng không mã hoá.",
        cluster: "Cụm netwatch", cluster_slots: "khe có chủ {owned}/{slots}", coordinator: "Điều phối",
        no_coordinator: "KHÔNG CÓ nút điều phối", epoch: "nhiệm kỳ", lease_left: "hợp đồng còn",
        node: "Nút", site: "Điểm", node_state: "Trạng thái", slots: "Khe", renew: "Gia hạn cách",
        live: "đang chạy", fenced: "đã tự dừng (hết hạn)", refused: "từ chối nhận việc",
        config_differs: "cấu hình khác cụm", site_ok: "đủ nút", site_degraded: "thiếu nút", site_down: "không còn nút",
        nodes_live: "{live}/{nodes} nút chạy", unowned: "{n} khe không có chủ: có kiểm tra không được đo",
        site_isolated: "MẤT LIÊN LẠC", site_suspect: "nghi vấn",
        isolated_warning: "CẢNH BÁO: mất liên lạc với điểm {site}: lỗi thấy từ điểm này không tính là sự cố",
        suspect_warning: "Nghi vấn: điểm {site} bỏ phiếu ngược với mọi điểm khác trên nhiều kiểm tra",
        ago: "{t} trước" },
  en: { phase: "Phase", on_duty: "On duty", incidents: "Open incidents", resolved: "Recently resolved",
        no_incidents: "No incidents.", no_resolved: "None.", none: "—", switch: "Tiếng Việt",
        title: "Status board", not_acked: "Not acknowledged", acked: "Acknowledged", operator: "Operator sign-in",
        op_name: "Name", op_secret: "Password or token", op_use: "Use", ack_button: "Acknowledge",
        signed_in: "signed in: ", ack_failed: "acknowledge failed: ", since: "started", for: "lasting",
        lasted: "lasted", fixed_at: "fixed at", zone: "Zone", security: "SECURITY",
        security_long: "Security incident", suspect: "suspect", recovering: "recovering",
        healthy: "up", problems: "problems", view_problems: "Problems only", view_all: "Everything",
        compact: "Compact", expand: "Full", window_minutes: "(last {n} min)",
        stale_title: "THE BOARD IS NO LONGER RECEIVING DATA FROM NETWATCH",
        stale_body: "The colours below are old data, not the devices' state. Check the machine running netwatch.",
        stale_last: "Last update", all_ok: "Every device is up",
        hidden_ok: "{n} devices up",
        insecure_listen: "WARNING: netwatch listens beyond loopback without HTTPS: passwords and tokens cross the network in clear.",
        cluster: "netwatch cluster", cluster_slots: "slots owned {owned}/{slots}", coordinator: "Coordinator",
        no_coordinator: "NO coordinator", epoch: "epoch", lease_left: "lease left",
        node: "Node", site: "Site", node_state: "State", slots: "Slots", renew: "Last renew",
        live: "live", fenced: "fenced (lease expired)", refused: "refuses work",
        config_differs: "config differs", site_ok: "all nodes", site_degraded: "nodes missing", site_down: "no node left",
        nodes_live: "{live}/{nodes} nodes live", unowned: "{n} slots have no owner: some checks are not probed",
        site_isolated: "ISOLATED", site_suspect: "suspect",
        isolated_warning: "WARNING: site {site} is isolated (lost contact): failures seen from it are not outages",
        suspect_warning: "Suspect: site {site} votes against every other site on many checks",
        ago: "{t} ago" },
};
const ORDER = ["down", "unreachable", "degraded", "unknown", "maintenance", "up"];
const PROBLEMS = new Set(["down", "unreachable", "degraded"]);

const params = new URLSearchParams(location.search);
// ?lang=en|vi sets the language of a wall nobody touches; the switch remembers a person's choice.
let lang = ["en", "vi"].includes(params.get("lang")) ? params.get("lang")
  : ((localStorage.getItem("netwatch-lang") === "en") ? "en" : "vi");
let problemsOnly = params.get("view") === "problems";
const rotateSeconds = Math.max(0, Number(params.get("rotate") || 0));
let compactForced = params.get("compact") === "1" ? true : (params.get("compact") === "0" ? false : null);
let compactAuto = false;
let last = null;
let lastOkAt = 0;        // Date.now() of the last good answer
let receivedAt = 0;
let failures = 0;
let cluster = null;      // the last /api/v1/cluster answer (or its failure), cluster mode only
let clusterBusy = false;
// Operator credentials live in this page's memory only (never a cookie or storage): each ack sends
// them in the Authorization header, which another site cannot make the browser send.
let operator = null;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fmt(key, values) {
  return (TEXTS[lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => String(values[k]));
}

function stateName(data, state) {
  const names = (data && data.state_names && data.state_names[lang]) || {};
  return names[state] || state;
}

function span(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const u = lang === "vi" ? ["ngày", "giờ", "phút", "giây"] : ["d", "h", "min", "s"];
  if (d) return `${d} ${u[0]} ${h} ${u[1]}`;
  if (h) return `${h} ${u[1]} ${String(m).padStart(2, "0")} ${u[2]}`;
  if (m) return `${m} ${u[2]} ${String(r).padStart(2, "0")} ${u[3]}`;
  return `${r} ${u[3]}`;
}

// The server's clock, advanced by the time since its answer: durations do not depend on the browser's clock.
function serverNow() {
  return last ? last.generated_at + (Date.now() - receivedAt) / 1000 : Date.now() / 1000;
}

// Every time on the wall is in the site's time zone (the config's), whatever the browser's is.
function siteClock(ts, withSeconds = true) {
  if (!ts) return "—";
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (withSeconds) opts.second = "2-digit";
  if (last && last.timezone) opts.timeZone = last.timezone;
  return new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB", opts).format(new Date(ts * 1000));
}

function words(item) {
  const text = item.words ? (item.words[lang] || item.words.en || "") : "";
  return text ? text[0].toUpperCase() + text.slice(1) : "";   // the catalogue writes mid-sentence phrases
}

function progressText(p) {
  return p ? `${TEXTS[lang][p.phase]} ${p.count}/${p.of}` : "";
}

function applyTexts() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-t]")) {
    node.textContent = TEXTS[lang][node.dataset.t] || node.textContent;
  }
  document.getElementById("lang").textContent = TEXTS[lang].switch;
  document.getElementById("view").textContent = TEXTS[lang][problemsOnly ? "view_all" : "view_problems"];
  document.getElementById("compact").textContent = TEXTS[lang][compact() ? "expand" : "compact"];
}

function compact() {
  return compactForced === null ? compactAuto : compactForced;
}

function severity(state) {
  const i = ORDER.indexOf(state);
  return i < 0 ? ORDER.length : i;
}

function rank(tile) {
  if (tile.problem) return severity(tile.state);
  if (tile.progress) return 3;   // suspect/recovering right after the confirmed problems
  return 4 + severity(tile.state);
}

function renderTile(data, tile) {
  const attention = tile.problem || !!tile.progress;
  const cls = ["tile", `s-${tile.state}`, attention ? "big" : "small"];
  if (tile.security) cls.push("security");
  if (tile.progress) cls.push(`p-${tile.progress.phase}`);
  const node = el("div", cls.join(" "));
  node.dataset.target = tile.id;
  node.dataset.state = tile.state;
  // Raw probe text stays available on hover for engineers; the wall shows words.
  node.title = [tile.name, tile.error, tile.detail, tile.descr].filter(Boolean).join("\n");
  if (!attention) {
    node.append(el("span", "name", tile.name));
    return node;
  }
  const head = el("div", "head");
  if (tile.security) head.append(el("span", "sec-badge", `⚠ ${TEXTS[lang].security}`));
  head.append(el("span", "name", tile.name));
  node.append(head);
  const parts = [];
  if (tile.progress) parts.push(progressText(tile.progress));
  else parts.push(stateName(data, tile.state));
  const w = words(tile);
  if (w) parts.push(w);
  node.append(el("div", "line", parts.join(" · ")));
  if (tile.problem && tile.since) {
    node.append(el("div", "when", `${TEXTS[lang].since} ${siteClock(tile.since)} · ${TEXTS[lang].for} ${span(serverNow() - tile.since)}`));
  }
  return node;
}

function renderZones(data) {
  const zones = document.getElementById("zones");
  zones.replaceChildren();
  zones.classList.toggle("compact", compact());
  const ordered = (data.zones || []).map((z, i) => ({ z, i })).sort((a, b) => {
    const pa = a.z.problems ? severity(a.z.state) : 10, pb = b.z.problems ? severity(b.z.state) : 10;
    return pa - pb || a.i - b.i;
  }).map((x) => x.z);
  let shown = 0;
  for (const zone of ordered) {
    const tiles = (zone.tiles || []).map((t, i) => ({ t, i }))
      .sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i).map((x) => x.t);
    const attention = tiles.filter((t) => t.problem || t.progress);
    if (problemsOnly && !attention.length) continue;
    shown += 1;
    const box = el("section", `zone z-${zone.problems ? zone.state : "ok"}`);
    box.dataset.zone = zone.id;
    box.dataset.state = zone.state;
    const title = el("h3");
    title.append(el("span", "zname", zone.name || zone.id || "—"));
    const n = tiles.length;
    title.append(el("span", "zcount", zone.problems ? `${zone.problems} ${TEXTS[lang].problems} · ${zone.healthy}/${n} ${TEXTS[lang].healthy}`
                                                   : `${zone.healthy}/${n} ${TEXTS[lang].healthy}`));
    box.append(title);
    const big = el("div", "tiles big-tiles");
    const small = el("div", "tiles small-tiles");
    for (const tile of (problemsOnly ? attention : tiles)) {
      (tile.problem || tile.progress ? big : small).append(renderTile(data, tile));
    }
    if (big.childElementCount) box.append(big);
    if (small.childElementCount) box.append(small);
    if (problemsOnly && n > attention.length) {
      box.append(el("div", "folded", fmt("hidden_ok", { n: n - attention.length })));
    }
    zones.append(box);
  }
  if (!shown) zones.append(el("div", "all-ok", TEXTS[lang].all_ok));
}

function ackBlock(inc) {
  const t = TEXTS[lang];
  const box = el("div", "ack");
  if (inc.acknowledged_by) {
    box.classList.add("done");
    box.append(el("span", "who", `✓ ${inc.acknowledged_by}`));
    if (inc.acked_at_text) box.append(el("span", "at", ` ${inc.acked_at_text.split(" ")[0]}`));
    if (inc.ack_note) box.append(el("div", "note", `“${inc.ack_note}”`));
  } else if (operator && inc.id) {
    const button = el("button", "ack-button", t.ack_button);
    button.type = "button";
    button.dataset.incident = String(inc.id);
    button.addEventListener("click", () => acknowledge(inc.id));
    box.append(button);
  } else {
    box.classList.add("open");
    box.append(el("span", "who", t.not_acked));
  }
  return box;
}

function renderIncident(data, inc, resolved) {
  const t = TEXTS[lang];
  const cls = ["inc", `s-${resolved ? "resolved" : inc.state}`];
  if (inc.security) cls.push("security");
  const row = el("div", cls.join(" "));
  row.dataset.check = inc.check || "";
  if (inc.id) row.dataset.incident = String(inc.id);
  const top = el("div", "top");
  const badge = resolved ? `✓ ${t.fixed_at} ${siteClock(inc.resolved_at)}` : stateName(data, inc.state);
  top.append(el("span", `badge s-${resolved ? "up" : inc.state}`, badge));
  if (inc.security) top.append(el("span", "sec-badge", `⚠ ${t.security}`));
  top.append(el("span", "zone-name", inc.zone_name || inc.zone || ""));
  if (inc.id) top.append(el("span", "num", `#${inc.id}`));
  row.append(top);
  row.append(el("div", "name", inc.name));
  const w = words(inc);
  if (w) row.append(el("div", "cause", w));
  const when = el("div", "when");
  if (resolved) {
    when.textContent = `${t.since} ${siteClock(inc.since)} · ${t.lasted} ${span(inc.duration_seconds)}`;
  } else {
    when.textContent = `${t.since} ${siteClock(inc.since)} · ${t.for} ${span(inc.since ? serverNow() - inc.since : null)}`;
  }
  row.append(when);
  row.append(ackBlock(inc));
  const detail = [inc.error, inc.detail].filter(Boolean).join(": ");
  if (detail && !resolved) row.append(el("div", "detail", detail));
  return row;
}

function render(data) {
  const t = TEXTS[lang];
  document.getElementById("site").textContent = data.site || "netwatch";
  document.title = `${data.site || "netwatch"} — ${t.title}`;
  document.getElementById("event").textContent = data.event || "";
  document.getElementById("phase").textContent = data.phase ? (data.phase.name || data.phase.id) : t.none;
  document.getElementById("duty").textContent =
    (data.on_duty || []).map((c) => c.phone ? `${c.name} (${c.phone})` : c.name).join(", ") || t.none;
  document.getElementById("tz").textContent = data.timezone || "";
  // Warnings the server names (e.g. listening beyond loopback without HTTPS), in the reader's language.
  const warning = document.getElementById("warning");
  warning.textContent = (data.warnings || []).map((w) => t[w] || w).join(" ");
  warning.hidden = !warning.textContent;
  tick();

  const counts = document.getElementById("counts");
  counts.replaceChildren();
  for (const state of ORDER) {
    const n = (data.counts || {})[state] || 0;
    if (!n) continue;
    const badge = el("span", `count s-${state}`, `${stateName(data, state)}: ${n}`);
    badge.dataset.state = state;
    counts.append(badge);
  }

  renderZones(data);

  const list = document.getElementById("incidents");
  list.replaceChildren();
  const incidents = data.incidents || [];
  for (const inc of incidents) list.append(renderIncident(data, inc, false));
  document.getElementById("incident-count").textContent = incidents.length ? `(${incidents.length})` : "";
  document.getElementById("no-incidents").hidden = incidents.length > 0;

  const resolved = document.getElementById("resolved");
  resolved.replaceChildren();
  for (const inc of data.resolved || []) resolved.append(renderIncident(data, inc, true));
  document.getElementById("no-resolved").hidden = (data.resolved || []).length > 0;
  document.getElementById("resolved-window").textContent = fmt("window_minutes", { n: data.resolved_minutes || 30 });
  renderCluster();
  fit();
}

// The healthy tiles take the largest of three sizes that fits the screen: roomy name chips for a small venue,
// small chips, then coloured dots (with the zone counts) for a large one. Every problem stays on screen
// without scrolling on a wall nobody touches.
function fit() {
  const zones = document.getElementById("zones");
  if (compactForced !== null || window.innerWidth < 700) {
    zones.classList.remove("roomy");
    return;
  }
  // Columns that run out of height overflow sideways, so both directions count.
  const overflows = () => zones.scrollHeight > zones.clientHeight + 1 || zones.scrollWidth > zones.clientWidth + 1;
  const was = compactAuto;
  zones.classList.remove("compact");
  zones.classList.add("roomy");
  compactAuto = false;
  if (overflows()) {
    zones.classList.remove("roomy");
    if (overflows()) {
      zones.classList.add("compact");
      compactAuto = true;
    }
  }
  if (was !== compactAuto) applyTexts();
}

// Cluster mode only (the board JSON says so): nodes, sites and the coordinator, polled beside the board so a
// slow cluster database greys this panel and never the wall.
async function pollCluster() {
  if (clusterBusy) return;
  clusterBusy = true;
  try {
    const controller = new AbortController();
    const abort = setTimeout(() => controller.abort(), 5000);
    const response = await fetch("/api/v1/cluster", { credentials: "same-origin", cache: "no-store",
                                                      signal: controller.signal });
    clearTimeout(abort);
    const answer = await response.json().catch(() => ({}));
    cluster = response.ok ? answer : { error: answer.error || `HTTP ${response.status}`, words: answer.words };
  } catch (err) {
    cluster = { error: String(err && err.message || err) };
  } finally {
    clusterBusy = false;
  }
  renderCluster();
}

function renderCluster() {
  const t = TEXTS[lang];
  const box = document.getElementById("cluster");
  box.hidden = !(last && last.cluster);
  if (box.hidden || !cluster) return;
  const error = document.getElementById("cluster-error");
  const coord = document.getElementById("cluster-coordinator");
  const sites = document.getElementById("cluster-sites");
  const table = document.getElementById("cluster-nodes");
  if (cluster.error) {
    error.textContent = cluster.words ? (cluster.words[lang] || cluster.words.en)
      : (lang === "vi" ? "không đọc được trạng thái cụm" : "the cluster status could not be read");
    error.hidden = false;
    box.classList.add("unreadable");
    return;   // the last good rows stay, greyed: old data, said so above them
  }
  error.hidden = true;
  box.classList.remove("unreadable");
  const summary = [fmt("cluster_slots", { owned: cluster.owned, slots: cluster.slots })];
  if (cluster.unowned) summary.push(fmt("unowned", { n: cluster.unowned }));
  document.getElementById("cluster-summary").textContent = `(${summary[0]})`;
  coord.replaceChildren();
  coord.className = cluster.coordinator ? "coordinator" : "coordinator missing";
  coord.textContent = cluster.coordinator
    ? `${t.coordinator}: ${cluster.coordinator.node} · ${t.epoch} ${cluster.coordinator.epoch} · ${t.lease_left} ${span(cluster.coordinator.lease_left_seconds)}`
    : t.no_coordinator;
  if (cluster.unowned) coord.append(el("div", "unowned", summary[1]));
  sites.replaceChildren();
  for (const s of cluster.sites || []) {
    const words = [`${s.site}: ${fmt("nodes_live", s)}`, t["site_" + s.state] || s.state];
    if (s.isolated) words.push(t.site_isolated);
    if (s.suspect) words.push(t.site_suspect);
    const chip = el("span", `cluster-site c-${s.state}`, words.join(" · "));
    chip.classList.toggle("isolated", !!s.isolated);
    chip.classList.toggle("suspect", !!s.suspect);
    chip.dataset.site = s.site;
    chip.dataset.state = s.state;
    sites.append(chip);
  }
  // The same warnings as `netwatch cluster status`, one line each under the chips.
  for (const site of cluster.isolated_sites || []) sites.append(el("div", "site-warning isolated", fmt("isolated_warning", { site })));
  for (const site of cluster.suspect_sites || []) sites.append(el("div", "site-warning suspect", fmt("suspect_warning", { site })));
  table.replaceChildren();
  const head = el("tr");
  for (const k of ["node", "site", "node_state", "slots", "renew"]) head.append(el("th", null, t[k]));
  table.append(head);
  for (const n of cluster.nodes || []) {
    const row = el("tr", `c-${n.state}`);
    row.dataset.node = n.node;
    row.dataset.state = n.state;
    row.append(el("td", "node", n.coordinator ? `${n.node} ★` : n.node));
    row.append(el("td", null, n.site));
    const words = [t[n.state] || n.state];
    if (n.refused) words.push(n.refused);
    if (n.config_differs) words.push(t.config_differs);
    row.append(el("td", "state", words.join(" · ")));
    row.append(el("td", "num", n.slots));
    row.append(el("td", "num", fmt("ago", { t: span(n.last_renew_age_seconds) })));
    table.append(row);
  }
}

function tick() {
  const clock = document.getElementById("clock");
  if (last) clock.textContent = siteClock(serverNow());
  const refresh = Math.max(1, (last && last.refresh_seconds) || 2) * 1000;
  // Stale when a poll failed (netwatch stopped: the connection is refused) and the last answer is an interval
  // old — the banner is up within 2 intervals of netwatch stopping — or when nothing answered for 3 intervals
  // (a hung server). A merely slow answer on a busy machine does not grey the wall.
  const age = Date.now() - lastOkAt;
  const stale = lastOkAt > 0 && ((failures > 0 && age >= refresh) || age > 3 * refresh);
  document.body.classList.toggle("stale", stale);
  const banner = document.getElementById("stale-banner");
  banner.hidden = !stale;
  if (stale && last) document.getElementById("stale-last").textContent = siteClock(last.generated_at);
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
    const controller = new AbortController();
    const abort = setTimeout(() => controller.abort(), 5000);
    const response = await fetch("/api/v1/board", { credentials: "same-origin", cache: "no-store",
                                                    signal: controller.signal });
    clearTimeout(abort);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    last = await response.json();
    receivedAt = lastOkAt = Date.now();
    failures = 0;
    render(last);
    if (last.cluster) pollCluster();   // not awaited: the wall never waits for the cluster database
    delay = Math.max(1, last.refresh_seconds || 2) * 1000;
  } catch (err) {
    failures += 1;
    delay = Math.min(10000, 1000 * failures);
  }
  tick();
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
  document.getElementById("view").addEventListener("click", () => {
    problemsOnly = !problemsOnly;
    applyTexts();
    if (last) render(last);
  });
  document.getElementById("compact").addEventListener("click", () => {
    compactForced = !compact();
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
  if (rotateSeconds > 0) {
    // The rotation alternates the whole venue and the problems only, for a wall nobody touches.
    setInterval(() => { problemsOnly = !problemsOnly; applyTexts(); if (last) render(last); }, rotateSeconds * 1000);
  }
  setInterval(tick, 500);
  window.addEventListener("resize", () => { compactAuto = false; if (last) render(last); });
  poll();
});
