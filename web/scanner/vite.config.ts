import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig, type Plugin } from "vite";

// The built scanner is committed inside the Python package, so a Python-only install serves it.
const outDir = process.env.HCERT_SCAN_OUT ?? resolve(import.meta.dirname, "../../app/static/scan");

/**
 * Emit sw.js: the service worker with the exact list of built files to keep
 * offline, and a cache name derived from their contents (so a new build
 * replaces the old cache, and the same sources always give the same file).
 */
function serviceWorker(): Plugin {
  return {
    name: "hcert-service-worker",
    apply: "build",
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle)
        .filter((name) => !name.endsWith(".map"))
        .sort();
      const hash = createHash("sha256");
      for (const name of files) {
        const item = bundle[name]!;
        hash.update(name);
        hash.update(item.type === "chunk" ? item.code : item.source);
      }
      const publicFiles = ["manifest.webmanifest", "icon-192.png", "icon-512.png", "roots.json"];
      for (const name of publicFiles.slice(0, 3)) hash.update(readFileSync(resolve(import.meta.dirname, "public", name)));
      const template = readFileSync(resolve(import.meta.dirname, "src/sw.template.js"), "utf8");
      const source = template
        .replace("__CACHE__", JSON.stringify(`hcert-scan-${hash.digest("hex").slice(0, 16)}`))
        .replace("__FILES__", JSON.stringify(["./", ...files.filter((f) => f !== "index.html"), ...publicFiles]));
      this.emitFile({ type: "asset", fileName: "sw.js", source });
    },
  };
}

export default defineConfig({
  base: "./",
  plugins: [serviceWorker()],
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
