// baocao dashboard: polls the JSON API every few seconds and redraws the current view.
// The location hash names the view, the report type and the period, so a link can be shared,
// reloaded, and back/forward walk through what was looked at:
//   #/?type=monthly&period=2025-08        national overview
//   #/p/01?type=monthly&period=2025-08    a province
//   #/c/00070?type=monthly&period=2025-08 a commune
// Without a type and period the page asks /api/periods/default (where the news is) and writes
// them into the URL.
"use strict";

const POLL_MS = 3000;
const TYPES = ["daily", "weekly", "monthly", "quarterly", "yearly"];
const MAX_PERIODS = 60;
const LABELS = {
  vi: {
    title: "Giám sát báo cáo", period: "Kỳ", other: "English",
    overview: "Mức độ đầy đủ theo tỉnh", totals: "Chỉ tiêu toàn quốc",
    reported: "Đã báo cáo", expected: "Phải báo cáo", on_time: "Đúng hạn", late: "Trễ hạn",
    missing: "Chưa báo cáo", rejected: "Bị từ chối", reported_status: "Đã báo cáo",
    overdue: "Quá hạn chưa nộp", due: "Sắp đến hạn", rejections: "Báo cáo bị từ chối",
    completeness: "Đầy đủ", timeliness: "Đúng hạn", status: "Trạng thái",
    provisional: "Tạm tính", final: "Chính thức", approved: "Đã phê duyệt",
    fresh: "Dữ liệu mới nhất", ago: "trước", nodata: "Chưa có dữ liệu",
    communes: "Xã, phường", indicators: "Chỉ tiêu", trend: "Xu hướng", value: "Giá trị",
    warnings: "Cảnh báo", reason: "Lý do", commune: "Xã", revision: "Lần nộp",
    submitted: "Nộp lúc", revisions: "Các lần sửa", before: "Trước", after: "Sau",
    back: "Toàn quốc", none: "Không có", unavailable: "ClickHouse không phản hồi",
    provinces: "tỉnh", type: "Loại báo cáo",
    daily: "Ngày", weekly: "Tuần", monthly: "Tháng", quarterly: "Quý", yearly: "Năm",
    upcoming: "chưa đến hạn", download: "Tải báo cáo (.xlsx)",
    last_year: "Cùng kỳ năm trước", year_to_date: "Lũy kế từ đầu năm",
    unit_types: "Theo loại đơn vị", all_types: "Tất cả",
    received: "Nhận lúc", claimed: "giờ khai lệch", claim_ahead: "(sau giờ nhận)", claim_behind: "(trước giờ nhận)",
    partial: "chưa đủ xã báo cáo", returned: "Đã trả lại", open: "Chưa phê duyệt", accepted: "Đã tiếp nhận",
    approval: "Phê duyệt", approve: "Phê duyệt", unapprove: "Huỷ phê duyệt", accept: "Tiếp nhận",
    return: "Trả lại", correction: "Đã sửa", applied: "Đã thực hiện", refused: "Bị từ chối",
    by: "bởi", note_prompt: "Ghi chú gửi xã (bắt buộc):", reason_prompt: "Lý do huỷ phê duyệt (bắt buộc):",
    sent: "Đã gửi, đang chờ xử lý…", missing_confirm: "Các xã sau chưa báo cáo:", confirm: "Vẫn phê duyệt?",
    history: "Lịch sử phê duyệt",
    clerks: "Tài khoản cán bộ xã", issue: "Cấp tài khoản", reset: "Đặt lại mật khẩu", disable: "Khoá",
    clerk_name: "Họ tên", password_once: "Mật khẩu (chỉ hiện một lần)", disabled: "Đã khoá",
    contacts: "Liên hệ", save: "Lưu", role: "Vai trò", email: "Thư điện tử", phone: "Điện thoại", role_clerk: "Cán bộ xã", role_officer: "Cán bộ tỉnh",
    code: "Mã", indicator: "Chỉ tiêu", unit: "Đơn vị", action: "Thao tác", at: "Lúc", step: "Bước", actor: "Người thực hiện", outcome: "Kết quả", note: "Ghi chú",
  },
  en: {
    title: "Report monitoring", period: "Period", other: "Tiếng Việt",
    overview: "Reporting completeness by province", totals: "National indicators",
    reported: "Reported", expected: "Expected", on_time: "On time", late: "Late",
    missing: "Missing", rejected: "Rejected", reported_status: "Reported",
    overdue: "Overdue, not received", due: "Due soon", rejections: "Rejected reports",
    completeness: "Complete", timeliness: "On time", status: "Status",
    provisional: "Provisional", final: "Final", approved: "Approved",
    fresh: "Newest data", ago: "ago", nodata: "No data yet",
    communes: "Communes", indicators: "Indicators", trend: "Trend", value: "Value",
    warnings: "Warnings", reason: "Reason", commune: "Commune", revision: "Revision",
    submitted: "Submitted", revisions: "Revisions", before: "Before", after: "After",
    back: "National", none: "None", unavailable: "ClickHouse is not answering",
    provinces: "provinces", type: "Report type",
    daily: "Daily", weekly: "Weekly", monthly: "Monthly", quarterly: "Quarterly", yearly: "Yearly",
    upcoming: "not yet due", download: "Download report (.xlsx)",
    last_year: "Same period last year", year_to_date: "Year to date",
    unit_types: "By unit type", all_types: "All",
    received: "Received", claimed: "claimed time off by", claim_ahead: "(after receipt)", claim_behind: "(before receipt)",
    partial: "few communes reported", returned: "Returned", open: "Not approved", accepted: "Accepted",
    approval: "Approval", approve: "Approve", unapprove: "Unapprove", accept: "Accept",
    return: "Send back", correction: "Corrected", applied: "Done", refused: "Refused",
    by: "by", note_prompt: "Note to the commune (required):", reason_prompt: "Reason to unapprove (required):",
    sent: "Sent, waiting for the worker…", missing_confirm: "These communes have not reported:", confirm: "Approve anyway?",
    history: "Approval history",
    clerks: "Commune clerks' logins", issue: "Issue a login", reset: "Reset password", disable: "Disable",
    clerk_name: "Full name", password_once: "Password (shown once)", disabled: "Disabled",
    contacts: "Contacts", save: "Save", role: "Role", email: "E-mail", phone: "Phone", role_clerk: "Commune clerk", role_officer: "Province officer",
    code: "Code", indicator: "Indicator", unit: "Unit", action: "Action", at: "At", step: "Step", actor: "By", outcome: "Outcome", note: "Note",
  },
};

const state = {
  lang: localStorage.getItem("baocao.lang") || "vi", periods: [], key: "", last: null, freshness: null,
  route: { kind: "", code: "", type: "", period: "" }, generation: 0,
  // The province page's unit-type filter ("" for every type).
  divisionType: "",
};
const $ = (id) => document.getElementById(id);
const t = (key) => LABELS[state.lang][key] || key;

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(value, ratio) {
  if (value === null || value === undefined) return "–";
  if (ratio) return (value * 100).toFixed(1) + "%";
  return value.toLocaleString(state.lang === "vi" ? "vi-VN" : "en-US", { maximumFractionDigits: 1 });
}

function age(seconds) {
  // "42 s", "5 min", "3 h", "51 d": the age of the newest figure at a glance.
  const [value, unit] = seconds < 120 ? [seconds, "s"] : seconds < 7200 ? [seconds / 60, "min"]
    : seconds < 172800 ? [seconds / 3600, "h"] : [seconds / 86400, state.lang === "vi" ? "ngày" : "d"];
  return `${Math.floor(value)} ${unit}`;
}

function colour(pct) {
  // 0% red .. 100% green; a province nobody reported from is grey.
  if (!pct) return "#9aa4ae";
  return `hsl(${Math.round(pct * 1.2)}, 62%, 40%)`;
}

function badge(status) {
  const key = status === "reported" ? "reported_status" : status;
  return `<span class="badge ${esc(status)}">${esc(t(key))}</span>`;
}

function name(item) {
  return state.lang === "vi" ? item.name_vi : item.name_en;
}

function unit(item) {
  // A ratio is shown as a percentage: its unit is the % sign already.
  if (item.ratio) return "";
  return state.lang === "vi" ? (item.unit_vi || item.unit) : item.unit;
}

function offset(seconds) {
  // A claimed time far from receipt, in days and hours ("2 ngày 3 giờ sớm hơn").
  if (seconds === null || seconds === undefined || Math.abs(seconds) < 600) return "";
  const total = Math.round(Math.abs(seconds) / 3600);
  const days = Math.floor(total / 24), hours = total % 24;
  const vi = state.lang === "vi";
  const parts = [];
  if (days) parts.push(vi ? `${days} ngày` : `${days} d`);
  if (hours || !days) parts.push(vi ? `${hours} giờ` : `${hours} h`);
  const side = seconds > 0 ? t("claim_ahead") : t("claim_behind");
  return `${t("claimed")} ${parts.join(" ")} ${side}`;
}

function quietHead(...keys) {
  // Column headers for a screen reader, unseen on a wide screen (the rows read plainly there);
  // a narrow one shows each before its value instead (labelCells, style.css "table.stack").
  return `<thead class="quiet"><tr>${keys.map((k) => `<th scope="col"><span>${esc(t(k))}</span></th>`).join("")}</tr></thead>`;
}

function labelCells(root) {
  // Each cell of a stacked table carries its column's header, shown before it on a phone.
  root.querySelectorAll("table.stack").forEach((table) => {
    const labels = [...table.tHead.rows[0].cells].map((th) => th.textContent.trim());
    [...table.tBodies[0].rows].forEach((row) => {
      if (row.cells.length !== labels.length) return; // "none", "no data": a sentence, not values
      [...row.cells].forEach((cell, i) => { cell.dataset.label = labels[i]; });
    });
  });
}

function sparkline(points) {
  const values = points.map((p) => p.value).filter((v) => v !== null);
  if (values.length < 2) return "";
  const w = 90, h = 22, lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const step = w / (points.length - 1);
  const xy = (p, i) => [(i * step).toFixed(1), (h - 2 - ((p.value - lo) / span) * (h - 4)).toFixed(1)];
  const coords = points
    .map((p, i) => (p.value === null ? null : xy(p, i).join(",")))
    .filter(Boolean)
    .join(" ");
  // A point from a period with few communes reported is hollow: not a trend to read.
  const marks = points
    .map((p, i) => (p.value === null || !p.partial ? "" : `<circle class="partial" cx="${xy(p, i)[0]}" cy="${xy(p, i)[1]}" r="2.5" fill="#fff" stroke="#b45309"/>`))
    .join("");
  const title = points.map((p) => `${p.period}: ${fmt(p.value)}${p.partial ? ` (${t("partial")})` : ""}`).join("\n");
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><title>${esc(title)}</title>` +
    `<polyline fill="none" stroke="#12355b" stroke-width="1.5" points="${coords}"/>${marks}</svg>`;
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (response.status === 401) {
    // The session expired or ended: back to the sign-in page, then here again.
    sessionStorage.setItem("baocao.after_login", location.hash);
    location.replace("/login");
    throw new Error("signed out");
  }
  const body = await response.json();
  if (!response.ok) {
    const detail = body.detail && typeof body.detail === "object" ? body.detail : body;
    throw new Error((state.lang === "en" ? detail.message_en : detail.message_vi) || body.detail || response.statusText);
  }
  return body;
}

function parseRoute() {
  // "#/p/01?type=monthly&period=2025-08" -> { kind: "p", code: "01", type, period }
  const [path, query = ""] = (location.hash || "#/").slice(1).split("?");
  const [, kind = "", code = ""] = path.split("/");
  const params = new URLSearchParams(query);
  return { kind, code: decodeURIComponent(code), type: params.get("type") || "", period: params.get("period") || "" };
}

function href(kind, code, type = state.route.type, period = state.route.period) {
  const path = kind && code ? `/${kind}/${encodeURIComponent(code)}` : "/";
  return `#${path}?type=${encodeURIComponent(type)}&period=${encodeURIComponent(period)}`;
}

function apiQuery(extra = "") {
  const r = state.route;
  return `report_type=${encodeURIComponent(r.type)}&period=${encodeURIComponent(r.period)}${extra}`;
}

function periodsOf(type) {
  // Newest first (the API orders by deadline); announced periods nobody reported in that are
  // not yet due go last: they are the future, not the news.
  const mine = state.periods.filter((p) => p.report_type === type);
  const upcoming = (p) => !p.due && !p.communes_reported;
  return [...mine.filter((p) => !upcoming(p)), ...mine.filter(upcoming)].map((p) => ({ ...p, upcoming: upcoming(p) }));
}

function fillSelectors() {
  const { type, period } = state.route;
  const key = [state.lang, type, period, ...state.periods.map((p) => `${p.report_type}${p.period}${p.due}${p.communes_reported > 0}`)].join(",");
  if (key === state.key) return;
  state.key = key;
  const types = TYPES.filter((k) => k === type || state.periods.some((p) => p.report_type === k));
  $("type").innerHTML = types.map((k) => `<option value="${k}">${esc(t(k))}</option>`).join("");
  $("type").value = type;
  // A short list: the newest periods of the type (a link to an older one still shows it).
  const options = periodsOf(type).slice(0, MAX_PERIODS);
  if (period && !options.some((p) => p.period === period)) options.unshift({ period, upcoming: false });
  $("period").innerHTML = options
    .map((p) => `<option value="${esc(p.period)}">${esc(p.period)}${p.upcoming ? ` (${esc(t("upcoming"))})` : ""}</option>`)
    .join("");
  $("period").value = period;
}

function overviewHtml(data) {
  const cols = Math.max(...data.provinces.map((p) => p.col), 0) + 1;
  const tiles = data.provinces
    .map((p) => `<a class="tile" data-province="${esc(p.code)}" href="${esc(href("p", p.code))}" ` +
      `style="grid-row:${p.row + 1};grid-column:${p.col + 1};background:${colour(p.completeness_pct)}" ` +
      `title="${esc(p.name)}: ${p.reported}/${p.expected}"><b>${esc(p.name.replace(/^(Thành phố|Tỉnh) /, ""))}</b>` +
      `<span class="pct">${p.completeness_pct.toFixed(1)}%</span></a>`)
    .join("");
  const n = data.national || {};
  const stat = (label, value, id) => `<div class="stat"${id ? ` id="${id}"` : ""}>${esc(label)}<b>${esc(value)}</b></div>`;
  const indicators = data.indicators
    .map((i) => `<tr><td>${esc(name(i))}</td><td class="num">${fmt(i.value, i.ratio)}</td><td>${esc(unit(i))}</td>` +
      `<td class="num">${i.provinces_reported}/34</td><td>${badge(i.status)}</td></tr>`)
    .join("");
  const download = `<a class="button" id="export-xlsx" download href="/api/national/export.xlsx?${apiQuery(`&lang=${state.lang}`)}">${t("download")}</a>`;
  return `<div class="row">
    <section class="card"><h2>${t("overview")} ${download}</h2>
      <div class="tiles" style="grid-template-columns:repeat(${cols}, 1fr)">${tiles}</div>
      <div class="legend"><span style="background:${colour(10)}"></span>10%<span style="background:${colour(50)}"></span>50%` +
      `<span style="background:${colour(100)}"></span>100%<span style="background:${colour(0)}"></span>${t("nodata")}</div>
    </section>
    <div style="display:grid;gap:1rem">
      <section class="card"><div class="stats">
        ${stat(t("reported"), `${fmt(n.reported)} / ${fmt(n.expected)}`, "national-reported")}
        ${stat(t("completeness"), `${(n.completeness_pct ?? 0).toFixed(1)}%`)}
        ${stat(t("timeliness"), `${(n.timeliness_pct ?? 0).toFixed(1)}%`)}
        ${stat(t("missing"), fmt(n.missing), "national-missing")}
        ${stat(t("late"), fmt(n.late))}
        ${stat(t("overdue"), fmt(data.missing_overdue), "missing-overdue")}
        ${stat(t("due"), fmt(data.missing_due))}
        ${stat(t("rejections"), fmt(data.rejections))}
        ${stat(t("status"), t(n.status || "provisional"))}
      </div></section>
      <section class="card"><h2>${t("totals")}</h2>
        <table id="national-indicators"><tbody>${indicators || `<tr><td>${t("nodata")}</td></tr>`}</tbody></table>
      </section>
    </div></div>`;
}

function provinceHtml(data) {
  const s = data.summary || { name: data.code };
  const counts = {};
  data.communes.forEach((c) => { counts[c.status] = (counts[c.status] || 0) + 1; });
  const approval = data.approval || { state: "open", version: 0, history: [] };
  const canReturn = approval.state === "open";
  const communes = data.communes
    .map((c) => `<tr data-commune="${esc(c.code)}"><td><a href="${esc(href("c", c.code))}">${esc(c.code)}</a></td><td>${esc(c.name)}</td>` +
      `<td>${badge(c.status)}${c.returned_note ? `<div class="note">${esc(c.returned_note)}</div>` : ""}` +
      `${c.contact ? `<div class="muted contact">${esc(c.contact.name)} <a href="tel:${esc(c.contact.phone)}">${esc(c.contact.phone)}</a> ${esc(c.contact.email)}</div>` : ""}</td><td class="num">${c.revision ?? ""}</td>` +
      `<td class="when">${esc(localTime(c.received_at))}${offset(c.claim_offset_seconds) ? `<div class="muted">${esc(offset(c.claim_offset_seconds))}</div>` : ""}</td>` +
      `<td>${canReturn && c.revision !== null && c.status !== "returned" ? `<button type="button" class="step" data-action="return" data-commune="${esc(c.code)}">${t("return")}</button>` : ""}</td></tr>`)
    .join("");
  const types = (data.unit_types || [])
    .map((u) => `<tr><td><a href="#" data-division-type="${esc(u.division_type)}">${esc(u.division_type)}</a></td>` +
      `<td class="num">${u.reported} / ${u.expected}</td><td class="num">${u.completeness_pct.toFixed(1)}%</td></tr>`)
    .join("");
  const indicators = data.indicators
    .map((i) => `<tr><td>${esc(name(i))}</td><td class="num">${fmt(i.value, i.ratio)}</td><td>${esc(unit(i))}</td>` +
      `<td class="num" title="${t("last_year")}">${fmt(i.same_period_last_year, i.ratio)}</td>` +
      `<td class="num" title="${t("year_to_date")}">${fmt(i.year_to_date, i.ratio)}</td>` +
      `<td>${sparkline(i.trend.map((p) => ({ period: p.period, partial: p.partial, value: p.value === null ? null : (i.ratio ? p.value * 100 : p.value) })))}</td><td>${badge(i.status)}</td></tr>`)
    .join("");
  const msg = (r) => esc(state.lang === "vi" ? r.message_vi : r.message_en);
  const rejections = data.rejections
    .map((r) => `<tr><td>${esc(r.commune_code)}</td><td title="${esc(r.reason_code)}">${msg(r)}</td></tr>`)
    .join("");
  const warnings = data.warnings
    .map((w) => `<tr><td>${esc(w.commune_name || w.commune_code)}</td><td title="${esc(w.rule_code)}">${msg(w)}</td></tr>`)
    .join("");
  const summary = ["on_time", "late", "rejected", "missing"]
    .map((k) => `<div class="stat">${badge(k)}<b>${counts[k] || 0}</b></div>`)
    .join("");
  const download = `/api/provinces/${encodeURIComponent(data.code)}/export.xlsx?${apiQuery(`&lang=${state.lang}`)}`;
  return `${approvalHtml(data, approval)}<section class="card"><h2><a href="${esc(href("", ""))}">${t("back")}</a> › ${esc(s.name)}
      ${s.status ? badge(s.status) : ""}
      <a class="button" id="export-xlsx" download href="${esc(download)}">${t("download")}</a></h2>
      <div class="stats"><div class="stat">${t("reported")}<b id="province-reported">${s.reported ?? 0} / ${s.expected ?? data.communes.length}</b></div>
      <div class="stat">${t("completeness")}<b>${(s.completeness_pct ?? 0).toFixed(1)}%</b></div>${summary}</div></section>
    ${toolsHtml(data.code)}
    <div class="row">
      <section class="card"><h2>${t("unit_types")}</h2><table id="unit-types"><tbody>
        <tr><td><a href="#" data-division-type="">${t("all_types")}</a></td></tr>${types}</tbody></table>
      <h2>${t("communes")}${data.division_type ? ` (${esc(data.division_type)})` : ""}</h2><div class="scroll"><table id="communes" class="stack">${quietHead("code", "commune", "status", "revision", "received", "action")}<tbody>${communes}</tbody></table></div></section>
      <div style="display:grid;gap:1rem">
        <section class="card"><h2>${t("indicators")}</h2><table id="province-indicators" class="stack">${quietHead("indicator", "value", "unit", "last_year", "year_to_date", "trend", "status")}<tbody>${indicators || `<tr><td>${t("nodata")}</td></tr>`}</tbody></table></section>
        <section class="card"><h2>${t("rejections")}</h2><table id="rejections"><tbody>${rejections || `<tr><td>${t("none")}</td></tr>`}</tbody></table></section>
        <section class="card"><h2>${t("warnings")}</h2><table><tbody>${warnings || `<tr><td>${t("none")}</td></tr>`}</tbody></table></section>
      </div>
    </div>`;
}

function localTime(iso) {
  // The server's UTC instant in the reader's local time, to the minute.
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function toolsHtml(code) {
  return `<details class="card" id="tools" data-code="${esc(code)}"><summary>${t("clerks")} · ${t("contacts")}</summary>
    <form id="clerk-form"><input id="clerk-commune" aria-label="${t("commune")}" placeholder="${t("commune")} (00004)" pattern="\\d{5}" required>
      <input id="clerk-name" aria-label="${t("clerk_name")}" placeholder="${t("clerk_name")}" required> <button type="submit">${t("issue")}</button></form>
    <p id="clerk-message" role="status"></p><table><tbody id="clerk-list"></tbody></table>
    <form id="contact-form"><input name="code" aria-label="${t("commune")}" placeholder="${t("commune")}" required>
      <select name="role" aria-label="${t("role")}"><option value="clerk">${t("role_clerk")}</option><option value="officer">${t("role_officer")}</option></select>
      <input name="name" aria-label="${t("clerk_name")}" placeholder="${t("clerk_name")}" required><input name="phone" aria-label="${t("phone")}" placeholder="${t("phone")}">
      <input name="email" aria-label="${t("email")}" placeholder="${t("email")}"><button type="submit">${t("save")}</button></form>
    <p id="contact-message" role="status"></p><table><tbody id="contact-list"></tbody></table></details>`;
}

function approvalHtml(data, approval) {
  const who = approval.approved_by ? ` ${t("by")} <b id="approved-by">${esc(approval.approved_by)}</b> ${esc(localTime(approval.approved_at))}` : "";
  const buttons = [];
  if (approval.state === "open") buttons.push(["approve", t("approve")]);
  if (approval.state === "approved") buttons.push(["unapprove", t("unapprove")]);
  if (approval.state === "approved" && state.me && state.me.province === null) buttons.push(["accept", t("accept")]);
  const history = approval.history.slice().reverse()
    .map((h) => `<tr data-step="${esc(h.approval_id)}"><td class="when">${esc(localTime(h.at))}</td><td>${esc(t(h.action))}${h.commune_code ? ` ${esc(h.commune_code)}` : ""}</td>` +
      `<td>${esc(h.actor)}</td><td>${badge(h.outcome)}</td><td>${esc(h.outcome === "refused" ? (state.lang === "vi" ? h.reason_vi : h.reason_en) : (h.note || ""))}</td></tr>`)
    .join("");
  return `<section class="card" id="approval" data-state="${esc(approval.state)}" data-version="${approval.version}">
      <h2>${t("approval")}: <span id="approval-state">${badge(approval.state)}</span>${who}</h2>
      <div>${buttons.map(([a, label]) => `<button type="button" class="step" data-action="${a}">${esc(label)}</button>`).join(" ")}</div>
      <p id="step-message" class="muted" role="status">${esc(state.stepMessage || "")}</p>
      <details><summary>${t("history")}</summary><table id="approval-history" class="stack">${quietHead("at", "step", "actor", "outcome", "note")}<tbody>${history || `<tr><td>${t("none")}</td></tr>`}</tbody></table></details>
    </section>`;
}

async function postStep(body) {
  const code = state.route.code;
  const response = await fetch(`/api/provinces/${encodeURIComponent(code)}/steps`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (response.status === 401) { location.replace("/login"); return null; }
  const answer = await response.json().catch(() => ({}));
  return { status: response.status, answer };
}

async function takeStep(action, commune) {
  const approval = (state.last && state.last.data.approval) || { version: 0 };
  const body = { action, report_type: state.route.type, period: state.route.period, based_on_version: approval.version };
  if (action === "return") {
    const note = prompt(t("note_prompt"));
    if (!note) return;
    Object.assign(body, { commune, note });
  }
  if (action === "unapprove") {
    const note = prompt(t("reason_prompt"));
    if (!note) return;
    body.note = note;
  }
  document.querySelectorAll("button.step").forEach((b) => { b.disabled = true; });  // no double click
  let sent = await postStep(body);
  if (sent && sent.status === 409 && sent.answer.detail && sent.answer.detail.missing) {
    const names = sent.answer.detail.missing.slice(0, 20).map((m) => `${m.code} ${m.name}`).join("\n");
    if (!confirm(`${t("missing_confirm")}\n${names}\n${t("confirm")}`)) { refresh(); return; }
    sent = await postStep({ ...body, confirm_missing: true });
  }
  if (!sent) return;
  const detail = sent.answer.detail && typeof sent.answer.detail === "object" ? sent.answer.detail : sent.answer;
  state.stepMessage = sent.status === 202 ? t("sent")
    : (state.lang === "vi" ? detail.message_vi : detail.message_en) || String(sent.answer.detail || sent.status);
  state.pendingStep = sent.status === 202 ? sent.answer.approval_id : null;
  refresh();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.step");
  if (button) takeStep(button.dataset.action, button.dataset.commune);
  const clerk = event.target.closest("button.clerk");
  if (clerk) clerkAction(clerk.dataset.action, clerk.dataset.login);
});

// Clerk logins and contacts of the province: loaded on demand (the "details" opening), as
// they are the officer's own tools, not figures to poll.
async function sendJson(method, url, body) {
  const response = await fetch(url, { method, headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401) { location.replace("/login"); return null; }
  return { status: response.status, data: await response.json().catch(() => ({})) };
}

async function loadTools() {
  const code = encodeURIComponent(state.route.code);
  const [clerks, contacts] = await Promise.all([
    getJson(`/api/provinces/${code}/clerks`).catch(() => []),
    getJson(`/api/provinces/${code}/contacts`).catch(() => []),
  ]);
  $("clerk-list").innerHTML = clerks.map((c) => `<tr data-login="${esc(c.login)}"><td>${esc(c.login)}</td><td>${esc(c.commune_code)}</td><td>${esc(c.name)}</td>` +
    `<td>${c.disabled_at ? badge("disabled") : `<button type="button" class="clerk" data-action="reset" data-login="${esc(c.login)}">${t("reset")}</button>` +
    `<button type="button" class="clerk" data-action="disable" data-login="${esc(c.login)}">${t("disable")}</button>`}</td></tr>`).join("") || `<tr><td>${t("none")}</td></tr>`;
  $("contact-list").innerHTML = contacts.map((c) => `<tr><td>${esc(c.code)}</td><td>${esc(t(`role_${c.role}`))}</td><td>${esc(c.name)}</td>` +
    `<td>${esc(c.phone)}</td><td>${esc(c.email)}</td></tr>`).join("") || `<tr><td>${t("none")}</td></tr>`;
}

async function clerkAction(action, login) {
  const code = encodeURIComponent(state.route.code);
  let answer;
  if (action === "issue") {
    answer = await sendJson("POST", `/api/provinces/${code}/clerks`, { commune: $("clerk-commune").value.trim(), name: $("clerk-name").value.trim() });
  } else {
    answer = await sendJson("POST", `/api/provinces/${code}/clerks/${encodeURIComponent(login)}/${action}`);
  }
  if (!answer) return;
  const d = answer.data;
  $("clerk-message").textContent = answer.status < 300
    ? (d.password ? `${d.login} — ${t("password_once")}: ${d.password}` : `${d.login}: ${t("disabled")}`)
    : (d.detail && d.detail.message_vi) || String(d.detail || answer.status);
  loadTools();
}

async function saveContact(event) {
  event.preventDefault();
  const code = encodeURIComponent(state.route.code);
  const form = event.target;
  const body = Object.fromEntries(new FormData(form).entries());
  const answer = await sendJson("PUT", `/api/provinces/${code}/contacts`, body);
  if (!answer) return;
  $("contact-message").textContent = answer.status < 300 ? `${t("save")}: ${body.name}`
    : (answer.data.detail && answer.data.detail.message_vi) || String(answer.status);
  loadTools();
}

document.addEventListener("toggle", (event) => {
  if (event.target.id === "tools" && event.target.open) loadTools();
}, true);
document.addEventListener("submit", (event) => {
  if (event.target.id === "contact-form") saveContact(event);
  if (event.target.id === "clerk-form") { event.preventDefault(); clerkAction("issue"); }
});

function communeHtml(data) {
  const indicators = data.indicators
    .map((i) => `<tr><td>${esc(name(i))}</td><td class="num">${fmt(i.value, i.ratio)}</td><td>${esc(unit(i))}</td></tr>`)
    .join("");
  const names = Object.fromEntries(data.indicators.map((i) => [i.code, name(i)]));
  const revisions = data.revisions
    .map((r) => `<tr><td class="num">${r.revision}</td><td>${esc(names[r.indicator_code] || r.indicator_code)}</td><td class="num">${fmt(r.previous)}</td>` +
      `<td class="num">${fmt(r.value)}</td><td class="when">${esc((r.known_at || "").replace("T", " ").slice(0, 19))}</td></tr>`)
    .join("");
  const status = data.revision === null ? "missing" : data.on_time === null ? "reported" : data.on_time ? "on_time" : "late";
  return `<section class="card"><h2><a href="${esc(href("", ""))}">${t("back")}</a> › <a href="${esc(href("p", data.province_code))}">${esc(data.province_code)}</a>
      › ${esc(data.name)} (${esc(data.code)}) ${badge(status)}</h2>
      <div class="stats"><div class="stat">${t("revision")}<b>${data.revision ?? "–"}</b></div>
      <div class="stat">${t("submitted")}<b>${esc((data.submitted_at || "–").replace("T", " ").slice(0, 16))}</b></div></div></section>
    <div class="row">
      <section class="card"><h2>${t("indicators")}</h2><table><tbody>${indicators || `<tr><td>${t("nodata")}</td></tr>`}</tbody></table></section>
      <section class="card"><h2>${t("revisions")}</h2><table id="revisions" class="stack"><thead><tr><th>${t("revision")}</th><th>${t("indicator")}</th><th class="num">${t("before")}</th>` +
      `<th class="num">${t("after")}</th><th>${t("submitted")}</th></tr></thead><tbody>${revisions || `<tr><td>${t("none")}</td></tr>`}</tbody></table></section>
    </div>`;
}

function render() {
  // Draws the last answer again (also right after a language switch, without a round trip).
  if (!state.last) return;
  // The officer's tools (forms being typed in) survive the redraw of the figures.
  const tools = document.getElementById("tools");
  // An approval history being read stays open.
  const history = document.querySelector("#approval details");
  const reading = Boolean(history && history.open);
  $("view").innerHTML = state.last.render(state.last.data);
  labelCells($("view"));
  if (reading && document.querySelector("#approval details")) document.querySelector("#approval details").open = true;
  const fresh = document.getElementById("tools");
  if (tools && fresh && tools.dataset.code === fresh.dataset.code) fresh.replaceWith(tools);
  $("freshness").textContent = state.freshness === null || state.freshness === undefined
    ? t("nodata") : `${t("fresh")}: ${age(state.freshness)} ${t("ago")}`;
}

async function refresh() {
  // A poll and a click can overlap: only the newest refresh draws.
  const generation = ++state.generation;
  try {
    const periods = await getJson("/api/periods");
    const asked = location.hash;
    let route = parseRoute();
    if (!route.type || !route.period) {
      const chosen = await getJson("/api/periods/default");
      // A link followed meanwhile owns the URL now: a newer refresh runs, or will once its
      // hashchange fires (it may still be queued behind this answer).
      if (generation !== state.generation || location.hash !== asked) return;
      route = { ...route, type: chosen.report_type, period: chosen.period };
      history.replaceState(null, "", href(route.kind, route.code, route.type, route.period));
    }
    let last;
    const { kind, code } = route;
    const query = `report_type=${encodeURIComponent(route.type)}&period=${encodeURIComponent(route.period)}`;
    if (kind === "p" && code) {
      const only = state.divisionType ? `&division_type=${encodeURIComponent(state.divisionType)}` : "";
      last = { render: provinceHtml, data: await getJson(`/api/provinces/${encodeURIComponent(code)}?${query}${only}`) };
    } else if (kind === "c" && code) {
      last = { render: communeHtml, data: await getJson(`/api/communes/${encodeURIComponent(code)}?period=${encodeURIComponent(route.period)}`) };
    } else {
      const data = await getJson(`/api/overview?${query}`);
      state.freshness = data.freshness_seconds;
      last = { render: overviewHtml, data };
    }
    if (generation !== state.generation) return;
    state.periods = periods;
    state.route = route;
    state.last = last;
    const pending = state.pendingStep && last.data.approval
      ? last.data.approval.history.find((h) => h.approval_id === state.pendingStep) : null;
    if (pending) {
      state.pendingStep = null;
      state.stepMessage = pending.outcome === "applied" ? `${t(pending.action)}: ${t("applied")}`
        : `${t(pending.action)}: ${t("refused")} — ${state.lang === "vi" ? pending.reason_vi : pending.reason_en}`;
    }
    fillSelectors();
    $("home").href = href("", "");
    render();
    $("error").hidden = true;
    document.body.dataset.loaded = String(Date.now());
  } catch (error) {
    if (generation !== state.generation) return;
    $("error").textContent = `${t("unavailable")}: ${error.message}`;
    $("error").hidden = false;
  }
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("other");
  document.title = t("title");
}

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "vi" ? "en" : "vi";
  localStorage.setItem("baocao.lang", state.lang);
  applyLanguage();
  render();
  refresh();
});
$("type").addEventListener("change", () => {
  // Another report type: its newest period (the first in its list), same view.
  const [newest] = periodsOf($("type").value);
  const r = state.route;
  location.hash = href(r.kind, r.code, $("type").value, newest ? newest.period : r.period);
});
$("period").addEventListener("change", () => {
  const r = state.route;
  location.hash = href(r.kind, r.code, r.type, $("period").value);
});
$("view").addEventListener("click", (event) => {
  // The province page's unit-type filter.
  const link = event.target.closest("[data-division-type]");
  if (!link) return;
  event.preventDefault();
  state.divisionType = link.dataset.divisionType;
  refresh();
});
window.addEventListener("hashchange", refresh);
applyLanguage();
refresh();
setInterval(refresh, POLL_MS);

// The signed-in officer, and signing out (the cookie is HttpOnly: the server ends it).
getJson("/api/me").then((me) => {
  state.me = me;
  const where = me.province ? `tỉnh ${me.province}` : "toàn quốc";
  document.getElementById("who").textContent = `${me.name} (${where})`;
}).catch(() => {});
document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/api/session/end", { method: "POST" });
  location.replace("/login");
});
