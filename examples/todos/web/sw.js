// The page's files, for loading it offline: network first (a new build is
// taken at once), the cache when the network fails. Only the page's own
// files are kept, each under its path without the query (which may hold a
// credential), and only good answers; the API and the WebSocket never.
const CACHE = "todos-v2";
const FILES = ["./", "index.html", "app.js", "app.css", "todos.js", "better-state.js", "dist/todos.wasm", "dist/wasm_exec.js"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/v1/")) return;
  const key = url.origin + url.pathname; // no query: no credential in the cache
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(key, copy));
        }
        return res;
      })
      .catch(() => caches.match(key)),
  );
});
