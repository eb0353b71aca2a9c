// Builds the app into dist/: index.html, hashed assets under /assets, and the service worker at
// /sw.js (not hashed: browsers look for it at a fixed URL). The precache list and cache version
// are written into sw.js after bundling, so every build that changes an asset changes sw.js and
// the page is told an update is available.
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { defineConfig, type Plugin } from "vite";

const PUBLIC_DIR = "public";

function publicFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...publicFiles(path));
    else found.push(`/${relative(PUBLIC_DIR, path).split("\\").join("/")}`);
  }
  return found;
}

function serviceWorkerManifest(): Plugin {
  return {
    name: "tether-sw-manifest",
    enforce: "post", // after Vite drops the empty JS chunks of CSS-only imports
    apply: "build",
    generateBundle(_options, bundle) {
      const sw = bundle["sw.js"];
      if (sw?.type !== "chunk") throw new Error("sw.js missing from the bundle");
      const files = Object.keys(bundle)
        .filter((f) => f !== "sw.js" && f !== "index.html" && !f.endsWith(".map"))
        .map((f) => `/${f}`)
        .concat(publicFiles(PUBLIC_DIR))
        .sort();
      const hash = createHash("sha256");
      for (const [name, item] of Object.entries(bundle).sort(([a], [b]) => a.localeCompare(b))) {
        hash.update(name);
        hash.update(item.type === "chunk" ? item.code : item.source);
      }
      const version = hash.digest("hex").slice(0, 12);
      const code = sw.code
        .replace(/(["'`])__TETHER_PRECACHE__\1/, JSON.stringify(files))
        .replaceAll("__TETHER_VERSION__", version);
      if (code.includes("__TETHER_")) throw new Error("sw.js placeholders were not all replaced");
      sw.code = code;
    },
  };
}

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  resolve: {
    alias: { react: "preact/compat", "react-dom": "preact/compat" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0, // the CSP allows no data: URLs
    modulePreload: { polyfill: false },
    sourcemap: false,
    rollupOptions: {
      input: { index: "index.html", sw: "src/sw.ts" },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  plugins: [serviceWorkerManifest()],
  server: {
    proxy: {
      "/api": "http://localhost:8765",
      "/ws": { target: "ws://localhost:8765", ws: true },
    },
  },
});
