#!/usr/bin/env node
// The storefront's size budget, enforced by `npm run build`: the JavaScript the first route ("/", the
// catalogue) loads — the entry chunk, the chunks it imports, and the catalogue page's lazy chunk with its
// imports — may weigh at most STOREFRONT_JS_BUDGET_KB (default 150) kB gzip-compressed (1 kB = 1000 bytes,
// gzip level 9). Above it the build fails (exit 1). `--json` prints every chunk's sizes as one JSON document.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const FIRST_ROUTE = "src/pages/Catalogue.tsx";
const dist = process.env.STOREFRONT_DIST ?? new URL("../dist", import.meta.url).pathname;
const budgetKb = Number(process.env.STOREFRONT_JS_BUDGET_KB ?? "150");
const json = process.argv.includes("--json");

function fail(message, code = 1) {
  console.error(`budget: ${message}`);
  process.exit(code);
}

if (!Number.isFinite(budgetKb) || budgetKb <= 0) fail(`STOREFRONT_JS_BUDGET_KB must be a positive number, got ${process.env.STOREFRONT_JS_BUDGET_KB}`, 2);

let manifest;
try {
  manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8"));
} catch (exc) {
  fail(`cannot read ${join(dist, ".vite", "manifest.json")} (run vite build first): ${exc.message}`, 2);
}

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
if (!entryKey) fail("the manifest has no entry chunk", 2);
if (!manifest[FIRST_ROUTE]) fail(`the manifest has no chunk for ${FIRST_ROUTE} (is the first route still lazy?)`, 2);

/** a chunk and everything it imports statically, as manifest keys */
function closure(key, seen = new Set()) {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const dep of manifest[key].imports ?? []) closure(dep, seen);
  return seen;
}

const sizes = {};
for (const [key, chunk] of Object.entries(manifest)) {
  if (!chunk.file.endsWith(".js")) continue;
  const bytes = readFileSync(join(dist, chunk.file));
  sizes[key] = { file: chunk.file, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const first = new Set([...closure(entryKey), ...closure(FIRST_ROUTE)]);
const firstGzip = [...first].reduce((n, k) => n + (sizes[k]?.gzip ?? 0), 0);
const firstBytes = [...first].reduce((n, k) => n + (sizes[k]?.bytes ?? 0), 0);
const totalGzip = Object.values(sizes).reduce((n, s) => n + s.gzip, 0);
const ok = firstGzip <= budgetKb * 1000;

if (json) {
  console.log(
    JSON.stringify({
      budget_kb: budgetKb,
      first_route: { chunks: [...first].map((k) => sizes[k]?.file).filter(Boolean), bytes: firstBytes, gzip: firstGzip },
      total_js_gzip: totalGzip,
      chunks: Object.values(sizes).sort((a, b) => b.gzip - a.gzip),
      ok,
    }),
  );
} else {
  for (const s of Object.values(sizes).sort((a, b) => b.gzip - a.gzip)) {
    console.log(`${s.file.padEnd(40)} ${(s.bytes / 1000).toFixed(2).padStart(8)} kB  gzip ${(s.gzip / 1000).toFixed(2).padStart(7)} kB`);
  }
  console.log(`first route (${FIRST_ROUTE} + entry): ${(firstGzip / 1000).toFixed(2)} kB gzip of ${budgetKb} kB allowed; all JS: ${(totalGzip / 1000).toFixed(2)} kB gzip`);
}
if (!ok) fail(`the first route's JavaScript is ${(firstGzip / 1000).toFixed(2)} kB gzip, over the ${budgetKb} kB budget`);
