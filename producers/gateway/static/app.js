// The commune app: sign in, pick a report type and period, fill in the figures, send.
// Rules: the offline check applies only what the catalogue's data says (numbers, not
// negative where the catalogue says so, at most rules.max_value, at least one figure); the
// full check is the gateway's dry run (POST /v1/reports:validate), the pipeline's own code.
// A report is queued with its exact body bytes before it is sent, and stays queued until the
// gateway answers; the session is an HttpOnly cookie this script never sees.
"use strict";

const T = {
  vi: {
    title: "Báo cáo xã", signout: "Đăng xuất", signinTitle: "Đăng nhập", login: "Tên đăng nhập",
    password: "Mật khẩu", signinButton: "Đăng nhập", reportTitle: "Nhập báo cáo",
    reportType: "Loại báo cáo", period: "Kỳ báo cáo", figures: "Số liệu", send: "Gửi báo cáo",
    amend: "Sửa báo cáo", uploadTitle: "Gửi bằng bảng tính", sheet: "Tệp bảng tính",
    uploadButton: "Tải lên",
    uploadNote: "Dùng mẫu của lệnh baocao template (.xlsx hoặc .csv). Các dòng hợp lệ được gửi; dòng bị từ chối được liệt kê kèm lý do.",
    checkNote: "Khi không có mạng, trang chỉ kiểm tra các lỗi chắc chắn (theo danh mục chỉ tiêu); kiểm tra đầy đủ diễn ra khi gửi.",
    queueTitle: "Chờ gửi — chưa được nhận",
    queueNote: "Các báo cáo này chưa đến hệ thống: đúng hạn hay muộn được tính theo lúc hệ thống nhận. Chúng tự gửi khi hệ thống trả lời lại, kể cả sau khi tải lại trang hay khởi động lại máy. Trên Android (Chrome) máy còn gửi được cả khi đã đóng ứng dụng; iPhone/iPad không cho gửi nền: hãy mở lại ứng dụng khi có mạng.",
    offline: "Không kết nối được với hệ thống. Bạn vẫn có thể nhập; báo cáo gửi đi sẽ được giữ trên máy và tự gửi khi có mạng.",
    deadline: "Hạn nộp", locksAt: "khoá lúc", revision: "Lần điều chỉnh",
    st_not_submitted: "Chưa nộp", st_on_time: "Đã nộp đúng hạn", st_late: "Nộp muộn",
    st_locked: "Đã khoá", st_returned: "Bị trả lại",
    sentBefore: "Kỳ này đã có báo cáo (lần điều chỉnh {r}). Muốn sửa, bấm “Sửa báo cáo”.",
    amending: "Đang sửa: gửi sẽ tạo lần điều chỉnh {r}.",
    lockedNote: "Kỳ này đã khoá: không nhận thêm báo cáo hay điều chỉnh.",
    needNumber: "Phải là một số.", negative: "Không được âm.", tooLarge: "Số quá lớn (tối đa {m}).",
    empty: "Hãy nhập ít nhất một chỉ tiêu.", fixFirst: "Hãy sửa các lỗi sau trước khi gửi:",
    warnTitle: "Cảnh báo (vẫn gửi được, hãy kiểm tra lại):",
    queued: "Chờ gửi — chưa được nhận", sending: "Đang gửi…",
    received: "Hệ thống đã nhận lúc {t}; đang xử lý…",
    accepted: "Đã tiếp nhận", rejected: "Bị từ chối", superseded: "Đã có bản sửa mới hơn",
    returned: "Tỉnh đã trả lại báo cáo để sửa", returnedNote: "Ghi chú của tỉnh",
    onTime: "Đúng hạn (theo lúc hệ thống nhận)", late: "Muộn hạn (theo lúc hệ thống nhận)",
    reasons: "Lý do:", signinAgain: "Phiên đăng nhập đã hết. Hãy đăng nhập lại; báo cáo chờ gửi vẫn được giữ.",
    uploadRows: "{p} dòng đã gửi, {d} dòng đã gửi trước đó, {r} dòng bị từ chối.",
    row: "Dòng", column: "Cột", reason: "Lý do", chooseFile: "Hãy chọn một tệp .xlsx hoặc .csv.",
    ratioNote: "Tỷ lệ do hệ thống tính từ tử số và mẫu số: ",
    unknownError: "Có lỗi; hãy thử lại.",
  },
  en: {
    title: "Commune reports", signout: "Sign out", signinTitle: "Sign in", login: "Login",
    password: "Password", signinButton: "Sign in", reportTitle: "Enter a report",
    reportType: "Report type", period: "Period", figures: "Figures", send: "Send report",
    amend: "Correct the report", uploadTitle: "Send a spreadsheet", sheet: "Spreadsheet file",
    uploadButton: "Upload",
    uploadNote: "Use the sheet from baocao template (.xlsx or .csv). Valid rows are sent; refused rows are listed with their reasons.",
    checkNote: "Without a connection the page checks only certain errors (from the indicator catalogue); the full check happens on sending.",
    queueTitle: "Waiting to send — not received yet",
    queueNote: "These reports have not reached the system: on time or late is judged when the system receives them. They are sent when the system answers again, also after a reload or a restart of the phone. On Android (Chrome) they are sent even after the app is closed; iPhone/iPad allow no background sending: open the app again when online.",
    offline: "Cannot reach the system. You can keep entering; reports you send are kept on this device and sent when the connection returns.",
    deadline: "Deadline", locksAt: "locks at", revision: "Revision",
    st_not_submitted: "Not submitted", st_on_time: "Submitted on time", st_late: "Late",
    st_locked: "Locked", st_returned: "Returned",
    sentBefore: "This period has a report (revision {r}). To change it, press “Correct the report”.",
    amending: "Correcting: sending creates revision {r}.",
    lockedNote: "This period is locked: no more reports or corrections.",
    needNumber: "Must be a number.", negative: "Cannot be negative.", tooLarge: "Too large (at most {m}).",
    empty: "Enter at least one figure.", fixFirst: "Fix these before sending:",
    warnTitle: "Warnings (you may still send; please check):",
    queued: "Waiting to send — not received yet", sending: "Sending…",
    received: "Received at {t}; being processed…",
    accepted: "Accepted", rejected: "Refused", superseded: "A newer correction exists",
    returned: "The province sent this report back for correction", returnedNote: "The province's note",
    onTime: "On time (by the time the system received it)", late: "Late (by the time the system received it)",
    reasons: "Reasons:", signinAgain: "Your session ended. Sign in again; waiting reports are kept.",
    uploadRows: "{p} rows sent, {d} rows sent before, {r} rows refused.",
    row: "Row", column: "Column", reason: "Reason", chooseFile: "Choose an .xlsx or .csv file.",
    ratioNote: "Ratios are computed by the system from their parts: ",
    unknownError: "Something went wrong; try again.",
  },
};

const $ = (id) => document.getElementById(id);
const store = {
  get: (key, fallback) => { try { const v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; } },
  set: (key, value) => localStorage.setItem(key, JSON.stringify(value)),
  del: (key) => localStorage.removeItem(key),
};
const QUEUE = "bc.queue";
let lang = store.get("bc.lang", "vi");
let me = null;          // {login, commune}
let form = null;        // GET /v1/form
let catalogue = null;   // GET /v1/form/{type}
let amending = null;    // {period, revision} while correcting
let lastCheck = null;   // the dry run of the current figures
let checkTimer = 0;
let flushing = false;
// A reminder's link (baocao notifier: /?type=monthly&period=2026-11) opens the form on its
// report type and period, once; one the form does not offer leaves the usual choice.
let linked = new URLSearchParams(location.search);

function t(key, vars) {
  let text = (T[lang] && T[lang][key]) || T.vi[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace("{" + k + "}", v);
  return text;
}
const msg = (item) => (lang === "vi" ? item.message_vi : item.message_en) || item.message_vi || item.message || "";
const label = (item) => (lang === "vi" ? item.name_vi || item.label_vi : item.name_en || item.label_en);
function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh", dateStyle: "short", timeStyle: "short" });
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
function show(id, on) { $(id).hidden = !on; }

async function api(method, path, body, type) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { init.body = body; init.headers["Content-Type"] = type || "application/json"; }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data, headers: response.headers };
}

// -- language ---------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = lang === "vi" ? "EN" : "VI";
  $("lang").setAttribute("aria-label", lang === "vi" ? "English" : "Tiếng Việt");
  if (me) renderWho();
  if (form) { renderTypes(); renderPeriodInfo(); }
  if (catalogue) renderInputs(readValues());
  renderQueue();
  if (lastCheck) renderCheck(lastCheck);
}

// -- signing in -------------------------------------------------------------------------

function renderWho() {
  const c = me.commune;
  $("who").textContent = `${c.name} (${c.code}) — ${c.province_name} · ${me.login}`;
  show("who", true);
}

async function start() {
  applyLanguage();
  renderQueue();
  let answer;
  try {
    answer = await api("GET", "/v1/session");
  } catch (e) {
    return startOffline();
  }
  if (answer.status === 200) return signedIn(answer.data);
  showSignIn(store.get(QUEUE, []).length ? t("signinAgain") : "");
}

function startOffline() {
  setOffline(true);
  const cached = store.get("bc.me", null);
  if (cached) {
    me = cached;
    renderWho();
    form = store.get("bc.form", null);
    if (form) openForm();
  } else {
    showSignIn("");
  }
}

function showSignIn(note) {
  show("signin", true); show("report", false); show("upload", false); show("signout", false);
  $("signin-error").textContent = note; show("signin-error", !!note);
  $("login").focus();
}

async function signIn(event) {
  event.preventDefault();
  const body = JSON.stringify({ login: $("login").value.trim(), password: $("password").value });
  let answer;
  try {
    answer = await api("POST", "/v1/session", body);
  } catch (e) {
    $("signin-error").textContent = t("offline"); show("signin-error", true); return;
  }
  if (answer.status !== 200) {
    $("signin-error").textContent = answer.data ? msg(answer.data) : t("unknownError");
    show("signin-error", true);
    return;
  }
  $("password").value = "";
  signedIn(answer.data);
}

async function signedIn(who) {
  me = who;
  store.set("bc.me", who);
  renderWho();
  setOffline(false);
  show("signin", false); show("signout", true); show("upload", true);
  await flushQueue();
  await loadForm();
}

async function signOut() {
  try { await api("DELETE", "/v1/session"); } catch (e) { /* offline: the cookie expires */ }
  me = null; form = null; store.del("bc.me"); store.del("bc.form");
  show("who", false);
  showSignIn("");
}

// -- the form ---------------------------------------------------------------------------

async function loadForm() {
  try {
    const answer = await api("GET", "/v1/form");
    if (answer.status === 401) return showSignIn(t("signinAgain"));
    if (answer.status === 200) { form = answer.data; store.set("bc.form", form); }
  } catch (e) {
    setOffline(true);
    form = form || store.get("bc.form", null);
  }
  if (form) openForm();
}

function openForm() {
  show("report", true);
  renderTypes({ type: linked.get("type"), period: linked.get("period") });
  if (location.search) history.replaceState(null, "", location.pathname);
  linked = new URLSearchParams();
  changeType();
}

function currentType() { return form.report_types.find((x) => x.report_type === $("report-type").value) || form.report_types[0]; }
function currentPeriod() { const type = currentType(); return type.periods.find((p) => p.period === $("period").value) || type.periods[0]; }

function renderTypes(wanted) {
  const typeSelect = $("report-type");
  const offered = (x) => form.report_types.some((y) => y.report_type === x);
  const chosen = [wanted && wanted.type, typeSelect.value, store.get("bc.type", "monthly")].find(offered);
  typeSelect.replaceChildren(...form.report_types.map((x) => el("option", { value: x.report_type }, label(x))));
  typeSelect.value = chosen || form.report_types[0].report_type;
  const periodSelect = $("period");
  const chosenPeriod = (wanted && wanted.period) || periodSelect.value;
  const periods = currentType().periods;
  periodSelect.replaceChildren(...periods.map((p) => el("option", { value: p.period }, `${label(p)} — ${t("st_" + p.state)}`)));
  const fallback = periods.find((p) => p.ended && p.state === "not_submitted") || periods.find((p) => p.state !== "locked") || periods[0];
  periodSelect.value = periods.some((p) => p.period === chosenPeriod) ? chosenPeriod : fallback.period;
}

async function changeType() {
  store.set("bc.type", $("report-type").value);
  renderTypes();
  const type = $("report-type").value;
  const key = "bc.catalogue." + type;
  try {
    const answer = await api("GET", "/v1/form/" + type);
    if (answer.status === 200) { catalogue = answer.data; store.set(key, catalogue); }
    else if (answer.status === 401) return showSignIn(t("signinAgain"));
  } catch (e) {
    setOffline(true);
    catalogue = store.get(key, null);
  }
  changePeriod();
}

function changePeriod() {
  amending = null;
  renderPeriodInfo();
  if (catalogue) renderInputs(draftOf().values || {});
  scheduleCheck();
}

function sentRevision(p) {
  return Math.max(p.accepted ? p.accepted.revision : 0, p.last_sent ? p.last_sent.revision : 0);
}

function renderPeriodInfo() {
  const p = currentPeriod();
  $("period-info").replaceChildren(
    el("span", { class: "state s-" + p.state }, t("st_" + p.state)), " ",
    `${t("deadline")}: ${when(p.deadline)} · ${t("locksAt")} ${when(p.locks_at)}`,
  );
  const done = sentRevision(p);
  const locked = p.state === "locked";
  const draft = draftOf();
  if (!amending && draft.amend && draft.amend > done) amending = { period: p.period, revision: draft.amend };
  show("amend-box", !locked && done > 0 && !amending);
  $("amend-note").textContent = t("sentBefore", { r: done });
  show("revision-note", !!amending);
  if (amending) $("revision-note").textContent = t("amending", { r: amending.revision });
  const editable = !locked && (done === 0 || !!amending);
  $("fields").disabled = !editable;
  $("send").disabled = !editable;
  if (locked) { $("amend-note").textContent = t("lockedNote"); show("amend-box", true); $("amend").hidden = true; }
  else $("amend").hidden = false;
}

function renderInputs(values) {
  const field = (f) => {
    const id = "f-" + f.code;
    const help = lang === "vi" ? f.help_vi : f.help_en;
    const input = el("input", { id, name: f.code, inputmode: "decimal", autocomplete: "off", "aria-describedby": id + "-msg" });
    input.value = values[f.code] === undefined ? "" : String(values[f.code]);
    return el("div", { class: "field" },
      el("label", { for: id }, label(f), " ", el("span", { class: "unit" }, `(${lang === "vi" ? f.unit_vi : f.unit})`)),
      input,
      help ? el("p", { class: "help" }, help) : null,
      el("p", { id: id + "-msg", class: "error", hidden: "" }));
  };
  // One section per domain of the catalogue, in its order.
  const sections = (catalogue.domains || [{ code: null }]).map((d) =>
    el("div", { class: "domain" },
      d.code ? el("h3", {}, label(d)) : null,
      ...catalogue.fields.filter((f) => !d.code || f.domain === d.code).map(field)));
  const ratios = catalogue.ratios.length
    ? el("p", { class: "ratio" }, t("ratioNote") + catalogue.ratios.map((r) => label(r)).join("; ")) : null;
  $("inputs").replaceChildren(...sections, ratios || "");
}

function readValues() {
  const values = {};
  for (const input of $("inputs").querySelectorAll("input")) if (input.value.trim() !== "") values[input.name] = input.value.trim();
  return values;
}

// The hard rules the catalogue's data implies; every other rule is the server's.
function localProblems(values) {
  const problems = [];
  const rules = catalogue.rules;
  for (const f of catalogue.fields) {
    const raw = values[f.code];
    if (raw === undefined) continue;
    const number = Number(raw.replace(",", "."));
    let problem = null;
    if (!/^-?\d+([.,]\d+)?$/.test(raw) || !Number.isFinite(number)) problem = t("needNumber");
    else if (f.non_negative && number < 0) problem = t("negative");
    else if (Math.abs(number) > rules.max_value) problem = t("tooLarge", { m: rules.max_value.toLocaleString() });
    if (problem) problems.push({ field: f.code, text: `${label(f)}: ${problem}` });
  }
  if (rules.at_least_one_value && Object.keys(values).length === 0) problems.push({ field: null, text: t("empty") });
  return problems;
}

function markFields(problems) {
  for (const input of $("inputs").querySelectorAll("input")) {
    const mine = problems.filter((p) => p.field === input.name);
    const note = $(input.id + "-msg");
    input.setAttribute("aria-invalid", mine.length ? "true" : "false");
    note.textContent = mine.map((p) => p.text).join(" ");
    note.hidden = !mine.length;
  }
}

function figures(values) {
  const out = {};
  for (const [code, raw] of Object.entries(values)) out[code] = Number(raw.replace(",", "."));
  return out;
}

function reportBody(values, reportId) {
  const p = currentPeriod();
  return JSON.stringify({
    report_id: reportId,
    commune_code: me.commune.code,
    province_code: me.commune.province_code,
    period: p.period,
    revision: amending ? amending.revision : Math.max(1, sentRevision(p) + 1),
    report_type: currentType().report_type,
    submitted_at: new Date().toISOString(),
    indicators: figures(values),
  });
}

// -- drafts and the dry run ------------------------------------------------------------

function draftKey() { return `bc.draft.${me.commune.code}.${$("period").value}`; }
function draftOf() { return me ? store.get(draftKey(), {}) : {}; }
function saveDraft() {
  store.set(draftKey(), { values: readValues(), amend: amending ? amending.revision : null, saved_at: Date.now() });
}

function onInput() {
  saveDraft();
  scheduleCheck();
}

function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(runCheck, 500);
}

async function runCheck() {
  if (!catalogue || !me) return;
  const values = readValues();
  const problems = localProblems(values);
  markFields(problems);
  if (problems.length || !Object.keys(values).length) {
    lastCheck = { local: problems, reasons: [], warnings: [] };
    return renderCheck(lastCheck);
  }
  const body = reportBody(values, newId());
  try {
    const answer = await api("POST", "/v1/reports:validate", body);
    if (answer.status === 200) {
      setOffline(false);
      lastCheck = { local: [], reasons: answer.data.reasons, warnings: answer.data.warnings, body: JSON.stringify(values) };
    } else if (answer.status === 401) {
      lastCheck = null; return showSignIn(t("signinAgain"));
    }
  } catch (e) {
    setOffline(true);
    lastCheck = { local: [], reasons: [], warnings: [] };
  }
  renderCheck(lastCheck);
}

function renderCheck(check) {
  const hard = check.local.map((p) => p.text).concat(check.reasons.map(msg));
  $("problems").replaceChildren(el("p", {}, t("fixFirst")), el("ul", {}, ...hard.map((x) => el("li", {}, x))));
  show("problems", hard.length > 0);
  $("warnings").replaceChildren(el("p", {}, t("warnTitle")), el("ul", {}, ...check.warnings.map((w) => el("li", {}, msg(w)))));
  show("warnings", check.warnings.length > 0);
}

// -- sending and the queue --------------------------------------------------------------

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function send(event) {
  event.preventDefault();
  const values = readValues();
  const problems = localProblems(values);
  markFields(problems);
  const stale = lastCheck && lastCheck.body === JSON.stringify(values) ? lastCheck.reasons : [];
  if (problems.length || stale.length) {
    lastCheck = { local: problems, reasons: stale, warnings: (lastCheck && lastCheck.warnings) || [] };
    return renderCheck(lastCheck);
  }
  const reportId = newId();
  const p = currentPeriod();
  const entry = {
    report_id: reportId, body: reportBody(values, reportId), commune: me.commune.code,
    period: p.period, period_label: label(p), queued_at: new Date().toISOString(), draft: draftKey(),
  };
  entry.revision = JSON.parse(entry.body).revision;
  const queue = store.get(QUEUE, []);
  queue.push(entry);
  store.set(QUEUE, queue);   // kept before the first byte leaves the device
  await outbox((box) => box.put(entry));   // and where the service worker can send it
  showResult("wait", t("sending"));
  renderQueue();
  await flushQueue();
}

function renderQueue() {
  const queue = store.get(QUEUE, []);
  $("queue-list").replaceChildren(...queue.map((q) =>
    el("li", { "data-report": q.report_id }, `${q.period_label || q.period} · ${t("revision")} ${q.revision} · ${t("queued")} (${when(q.queued_at)})`)));
  show("queue", queue.length > 0);
}

function dropFromQueue(reportId) {
  store.set(QUEUE, store.get(QUEUE, []).filter((q) => q.report_id !== reportId));
  outbox((box) => box.remove(reportId)).then(() => outbox((box) => box.forget(reportId)));
  renderQueue();
}

// The IndexedDB outbox (outbox.js); the app works without it (private windows may lack it).
async function outbox(work) {
  try { return typeof Outbox === "undefined" ? null : await work(Outbox); } catch (e) { return null; }
}

// Ask the browser to let the service worker send the outbox once the app is closed and the
// connection is back (Background Sync; not on iOS). Not awaited: without a service worker,
// navigator.serviceWorker.ready never settles.
function askForSync() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.ready
    .then((registration) => registration.sync && registration.sync.register("baocao-outbox"))
    .catch(() => {});
}

async function flushQueue() {
  if (flushing) return;
  flushing = true;
  try {
    for (const entry of store.get(QUEUE, [])) {
      // A report waits for its own commune's clerk (a shared phone, another login).
      if (!me || entry.commune !== me.commune.code) continue;
      // Sent by the service worker while the app was closed? Then its answer stands.
      let answer = await outbox((box) => box.answer(entry.report_id));
      if (!answer) {
        try {
          answer = await api("POST", "/v1/reports", entry.body);   // the exact bytes queued
        } catch (e) {
          setOffline(true);
          showResult("wait", t("queued"));
          askForSync();
          return;
        }
      }
      setOffline(false);
      if (answer.status === 202) {
        dropFromQueue(entry.report_id);
        if (entry.draft) store.del(entry.draft);
        store.set("bc.last", { report_id: entry.report_id, period: entry.period });
        amending = null;
        followReport(entry.report_id, answer.data);
      } else if (answer.status === 401) {
        showSignIn(t("signinAgain"));
        return;
      } else if (answer.status === 422 || answer.status === 409 || answer.status === 403 || answer.status === 413 || answer.status === 400) {
        dropFromQueue(entry.report_id);   // refused: the draft is still on the device
        showRefused(answer.data);
        if (outdated(answer.data)) await reopen(entry);
      } else {
        showResult("wait", t("queued"));   // 429, 503: the gateway asks to come back later
        return;
      }
    }
  } finally {
    flushing = false;
  }
}

function showResult(kind, ...content) {
  const box = $("result");
  box.className = kind;
  box.replaceChildren(...content.map((c) => (typeof c === "string" ? el("p", {}, c) : c)));
  show("result", true);
  box.scrollIntoView({ block: "nearest" });
}

function reasonList(reasons) {
  return el("ul", {}, ...(reasons || []).map((r) => el("li", { "data-code": r.code }, msg(r))));
}

function showRefused(data) {
  const reasons = (data && data.reasons) || [];
  showResult("bad", el("p", {}, el("strong", {}, t("rejected"))), data ? msg(data) : t("unknownError"), reasons.length ? t("reasons") : "", reasonList(reasons));
}

// Another tab or device sent a newer revision meanwhile: keep what was typed (draft), show
// the period as it now stands, and let the clerk reopen the newest revision to correct it.
function outdated(data) {
  return !!data && (data.reasons || []).some((r) => r.code === "stale_revision" || r.code === "conflicting_revision");
}

async function reopen(entry) {
  const typed = store.get(entry.draft, null) || { values: {} };
  store.set(entry.draft, { ...typed, amend: null });
  amending = null;
  await loadForm();
}

async function followReport(reportId, accepted) {
  showResult("wait", t("received", { t: when(accepted.received_at) }));
  for (let i = 0; i < 120; i++) {
    let answer;
    try { answer = await api("GET", "/v1/reports/" + reportId); } catch (e) { answer = null; }
    if (answer && answer.status === 200) {
      const s = answer.data;
      const timing = s.on_time === null ? "" : s.on_time ? t("onTime") : t("late");
      if (s.state === "accepted") {
        showResult("ok", el("p", { id: "outcome" }, el("strong", {}, t("accepted"))), timing, `${t("revision")} ${s.revision} · ${reportId}`);
        return loadForm();
      }
      if (s.state === "rejected") {
        showResult("bad", el("p", { id: "outcome" }, el("strong", {}, t("rejected"))), timing, t("reasons"), reasonList(s.reasons));
        return loadForm();
      }
      if (s.state === "superseded") { showResult("ok", el("p", { id: "outcome" }, t("superseded"))); return loadForm(); }
      if (s.state === "returned") {
        // Issue 19: sent back by the province; it counts until the commune sends a correction.
        showResult("bad", el("p", { id: "outcome" }, el("strong", {}, t("returned"))), `${t("returnedNote")}: ${s.returned.note}`);
        return loadForm();
      }
    }
    await new Promise((done) => setTimeout(done, 2000));
  }
}

async function amend() {
  const p = currentPeriod();
  let latest;
  try {
    const answer = await api("GET", `/v1/periods/${encodeURIComponent(p.period)}/latest`);
    if (answer.status !== 200) return showRefused(answer.data);
    latest = answer.data;
  } catch (e) {
    return setOffline(true);
  }
  amending = { period: p.period, revision: latest.next_revision };
  const values = {};
  for (const [code, value] of Object.entries((latest.accepted && latest.accepted.indicators) || {})) values[code] = String(value);
  renderInputs(values);
  saveDraft();
  renderPeriodInfo();
  scheduleCheck();
}

// -- the spreadsheet --------------------------------------------------------------------

async function upload() {
  const file = $("sheet").files[0];
  if (!file) { $("upload-result").textContent = t("chooseFile"); return; }
  const type = file.name.toLowerCase().endsWith(".csv") ? "text/csv"
    : "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  let answer;
  try { answer = await api("POST", "/v1/reports:upload", file, type); } catch (e) { setOffline(true); return; }
  if (answer.status !== 200) { $("upload-result").textContent = answer.data ? msg(answer.data) : t("unknownError"); return; }
  const data = answer.data;
  const refused = data.rows.filter((r) => r.status === "refused");
  const rows = refused.flatMap((r) => r.reasons.map((x) => el("tr", {}, el("td", {}, String(r.row)), el("td", {}, x.column || x.field || "-"), el("td", {}, msg(x)))));
  $("upload-result").replaceChildren(
    el("p", {}, t("uploadRows", { p: data.published, d: data.replayed, r: data.refused })),
    refused.length ? el("table", {}, el("tr", {}, el("th", {}, t("row")), el("th", {}, t("column")), el("th", {}, t("reason"))), ...rows) : "");
  loadForm();
}

// The page's check of a whole report body, as a send would meet it: the catalogue's hard
// rules on its figures, then the gateway's dry run of the exact bytes. Public so a test can
// hold it against the worker's verdict, report by report.
window.baocao = {
  async check(body, reportType) {
    const answer = await api("GET", "/v1/form/" + reportType);
    const saved = catalogue;
    catalogue = answer.data;
    let local;
    try {
      const values = {};
      for (const [code, value] of Object.entries(JSON.parse(body).indicators || {})) values[code] = String(value);
      local = localProblems(values).map((p) => p.field);
    } catch (e) {
      local = [null];   // not even JSON: the page would not send it
    } finally {
      catalogue = saved;
    }
    const dry = await api("POST", "/v1/reports:validate", body);
    return {
      local,
      status: dry.status,
      reasons: ((dry.data && dry.data.reasons) || []).map((r) => r.code),
      warnings: ((dry.data && dry.data.warnings) || []).map((w) => w.code),
    };
  },
};

// -- the connection ---------------------------------------------------------------------

function setOffline(off) {
  $("net").textContent = off ? t("offline") : "";
  show("net", off);
}

// Back online: the gateway answers again (the "online" event alone does not tell: a
// commune's network may be up while the gateway is unreachable).
async function reconnect() {
  let answer;
  try { answer = await api("GET", "/v1/session"); } catch (e) { return; }
  if (answer.status === 200) signedIn(answer.data);
  else if (answer.status === 401) showSignIn(store.get(QUEUE, []).length ? t("signinAgain") : "");
}

// Leaving the app with reports still queued: let the service worker send them.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" && store.get(QUEUE, []).length) askForSync();
});

window.addEventListener("online", () => { if (!$("net").hidden) reconnect(); else flushQueue(); });
setInterval(() => {
  if (!$("net").hidden) reconnect();
  else if (store.get(QUEUE, []).length && me) flushQueue();
}, 10000);

document.addEventListener("DOMContentLoaded", () => {
  $("lang").addEventListener("click", () => { lang = lang === "vi" ? "en" : "vi"; store.set("bc.lang", lang); applyLanguage(); });
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("report-type").addEventListener("change", changeType);
  $("period").addEventListener("change", changePeriod);
  $("inputs").addEventListener("input", onInput);
  $("report-form").addEventListener("submit", send);
  $("amend").addEventListener("click", amend);
  $("upload-button").addEventListener("click", upload);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  start();
});
