// The outbox in IndexedDB, shared by the page and the service worker: reports queued with
// their exact bytes, and the gateway's answers to those the service worker sent while the
// app was closed (Background Sync, where the browser has it; iOS has none).
"use strict";

const Outbox = (() => {
  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("baocao", 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore("outbox", { keyPath: "report_id" });
        request.result.createObjectStore("answers", { keyPath: "report_id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function run(name, mode, work) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(name, mode);
      const request = work(tx.objectStore(name));
      tx.oncomplete = () => { db.close(); resolve(request.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    });
  }
  return {
    put: (entry) => run("outbox", "readwrite", (s) => s.put(entry)),
    remove: (reportId) => run("outbox", "readwrite", (s) => s.delete(reportId)),
    all: () => run("outbox", "readonly", (s) => s.getAll()),
    answered: (reportId, answer) => run("answers", "readwrite", (s) => s.put({ report_id: reportId, ...answer })),
    answer: (reportId) => run("answers", "readonly", (s) => s.get(reportId)),
    forget: (reportId) => run("answers", "readwrite", (s) => s.delete(reportId)),
  };
})();
