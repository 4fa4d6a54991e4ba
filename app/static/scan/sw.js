// The scanner's service worker: keeps the page, its code, the decoder's .wasm
// and the pinned roots in a cache, so the page opens and verifies offline.
// Generated at build time from src/sw.template.js (the list of built files).
/* eslint-disable */
const CACHE = "hcert-scan-e3194a91a397864b";
const FILES = ["./","assets/index-BT4hK8Ef.css","assets/index-C2UXe9T4.js","assets/zxing_reader-Bb9Mx2Pu.wasm","manifest.webmanifest","icon-192.png","icon-512.png","roots.json"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("hcert-scan-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  // The page itself: network first (new code when online), the cached copy offline.
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put("./", copy));
          }
          return response;
        })
        .catch(() => caches.match("./", { cacheName: CACHE }).then((hit) => hit || Response.error())),
    );
    return;
  }
  // Built files have content hashes in their names: cache first.
  event.respondWith(caches.match(request, { cacheName: CACHE }).then((hit) => hit || fetch(request)));
});
