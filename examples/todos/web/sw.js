// The page's files, for loading it offline: network first (a new build is
// taken at once), the cache when the network fails. The API and the
// WebSocket are never cached.
const CACHE = "todos-v1";
const FILES = ["./", "index.html", "app.js", "app.css", "todos.js", "better-state.js", "dist/todos.wasm", "dist/wasm_exec.js"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.pathname.startsWith("/v1/")) return;
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(e.request, copy));
        return res;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true })),
  );
});
