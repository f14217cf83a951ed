#!/usr/bin/env node
// Time to first render of the storefront in headless Chromium: from navigation start until the catalogue's
// heading is on screen, the browser's cache disabled (every run a cold load), alternating with the peer — the
// same page with JavaScript disabled (the browser's and the network's floor: the HTML shell and CSS only).
//
//   BASE_URL=http://127.0.0.1:8080 RUNS=15 node e2e/first-render.mjs   → one JSON document on stdout
import { launch } from "./journey.mjs";

const base = (process.env.BASE_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const runs = Number(process.env.RUNS ?? "15");

async function once(context, javaScriptEnabled) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  await cdp.send("Emulation.setScriptExecutionDisabled", { value: !javaScriptEnabled });
  await page.goto(base + "/", { waitUntil: javaScriptEnabled ? "commit" : "load" });
  if (javaScriptEnabled) {
    await page.getByRole("heading", { name: "Catalogue", level: 1 }).waitFor({ timeout: 15000 });
  } else {
    // the page is loaded without its scripts; the measurement itself needs script execution back on
    await cdp.send("Emulation.setScriptExecutionDisabled", { value: false });
    for (let i = 0; i < 100; i++) {
      if (await page.evaluate(() => performance.getEntriesByName("first-contentful-paint").length > 0)) break;
      await page.waitForTimeout(20);
    }
  }
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return { now: performance.now(), fcp: fcp ? fcp.startTime : null, start: nav ? nav.startTime : 0 };
  });
  await page.close();
  const ms = javaScriptEnabled ? timing.now - timing.start : (timing.fcp ?? timing.now) - timing.start;
  return { ms: Math.round(ms * 10) / 10, fcp_ms: timing.fcp === null ? null : Math.round(timing.fcp * 10) / 10 };
}

const browser = await launch();
try {
  await once(browser.context, true); // start the browser's own machinery once; every measured load is cold
  const app = [];
  const peer = [];
  for (let i = 0; i < runs; i++) {
    app.push(await once(browser.context, true));
    peer.push(await once(browser.context, false));
  }
  console.log(JSON.stringify({ base_url: base, runs, app, peer }));
} finally {
  await browser.close();
}
