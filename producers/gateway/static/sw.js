// The app shell opens without a connection: network first (always the newest app when the
// gateway answers), the cached copy when it does not. API calls (/v1/...) are never cached.
// While the app is closed, Background Sync (where the browser has it) sends the outbox.
importScripts("/outbox.js");

const CACHE = "baocao-shell-__SHELL_VERSION__";
const SHELL = ["/", "/app.js", "/outbox.js", "/app.css", "/manifest.webmanifest", "/icon.svg"];
// Answers that settle a report: accepted, or refused for good (the page shows why).
const FINAL = [202, 400, 403, 409, 413, 422];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});

// The page sends its own queue while it is on screen; the worker steps in when no window of
// the app is visible (closed, or the clerk switched to another app). A report sent by both
// would be answered Idempotent-Replayed: it still counts once.
self.addEventListener("sync", (event) => {
  if (event.tag === "baocao-outbox") event.waitUntil(sendOutbox());
});

async function sendOutbox() {
  const windows = await self.clients.matchAll({ type: "window" });
  if (windows.some((w) => w.visibilityState === "visible")) return;
  let unsent = 0;
  for (const entry of await Outbox.all()) {
    let response;
    try {
      response = await fetch("/v1/reports", {
        method: "POST",
        body: entry.body,
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
      });
    } catch (e) {
      unsent += 1;
      continue;
    }
    if (!FINAL.includes(response.status)) { unsent += 1; continue; }  // 401, 429, 503: later
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    await Outbox.answered(entry.report_id, {
      status: response.status,
      data,
      replayed: response.headers.get("Idempotent-Replayed") === "true",
    });
    await Outbox.remove(entry.report_id);
  }
  if (unsent) throw new Error(`${unsent} reports not taken yet; the browser retries the sync later`);
}
