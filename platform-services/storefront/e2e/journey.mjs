#!/usr/bin/env node
// The storefront's end-to-end journey in a real browser (Debian's Chromium driven by playwright-core), through
// the edge: browse → register → log in → buy (a declined test card, then a good one) → enrol → read the lesson
// → my courses; a student cannot reach the instructor's page; no console errors but the expected 402.
//
//   BASE_URL=http://127.0.0.1:8080 node e2e/journey.mjs
//
// Environment: BASE_URL (the edge), CHROMIUM (default /usr/bin/chromium), ARTIFACTS (screenshots and page HTML
// of a failed step; default e2e/artifacts), ADMIN_EMAIL + ADMIN_PASSWORD (an admin of the user service: the
// journey makes an instructor and a course with a lesson to buy; without them it buys the newest course that
// has a readable first lesson, if any, and says so), STEP_TIMEOUT_MS (default 15000).
// Prints one JSON line per step ({"step", "ok", "detail", "ms"}) and a last line {"ok", "steps", ...}; exits 0
// when every step passed, 1 when one failed, 2 for bad settings or a browser that does not start.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Chromium with a fresh profile; `close()` removes the profile. */
export async function launch(executablePath = process.env.CHROMIUM || "/usr/bin/chromium") {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "storefront-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function api(base, method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {
    // a lesson body
  }
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
  return data;
}

/** A course with one readable lesson to buy: made by a new instructor (with admin credentials), else found. */
async function courseToBuy(base, run, admin) {
  if (admin) {
    const email = `journey-teacher-${run}@example.com`;
    const teacher = await api(base, "POST", "/api/user/register", { email, password: "teach-me-123", name: "Journey Teacher" });
    const adminToken = (await api(base, "POST", "/api/user/login", admin)).access_token;
    await api(base, "PUT", `/api/user/users/${teacher.id}/role`, { role: "instructor" }, adminToken);
    const token = (await api(base, "POST", "/api/user/login", { email, password: "teach-me-123" })).access_token;
    const course = await api(base, "POST", "/api/course/courses",
      { title: `Shipping safely ${run}`, description: "Blue-green, canaries and rollbacks", price_cents: 4900 }, token);
    const lesson = await api(base, "POST", `/api/course/courses/${course.id}/lessons`, { title: "Blue and green" }, token);
    const body = `# Blue-green\nTwo colours, one switch. (${run})`;
    await api(base, "PUT", `/api/content/courses/${course.id}/lessons/${lesson.id}`, { body }, token);
    return { title: course.title, query: run, body, made: true };
  }
  const list = await api(base, "GET", "/api/course/courses?page_size=100");
  for (const c of [...list.items].reverse()) {
    const detail = await api(base, "GET", `/api/course/courses/${c.id}`);
    if (detail.lessons.length) return { title: c.title, query: c.title, body: null, made: false };
  }
  return null;
}

export async function runJourney(options = {}) {
  const base = (options.baseUrl ?? process.env.BASE_URL ?? "").replace(/\/$/, "");
  if (!/^https?:\/\//.test(base)) throw new Error("BASE_URL must be the edge's URL, e.g. http://127.0.0.1:8080");
  const artifacts = options.artifacts ?? process.env.ARTIFACTS ?? new URL("./artifacts", import.meta.url).pathname;
  const timeout = Number(options.stepTimeout ?? process.env.STEP_TIMEOUT_MS ?? 15000);
  const adminEmail = options.adminEmail ?? process.env.ADMIN_EMAIL;
  const adminPassword = options.adminPassword ?? process.env.ADMIN_PASSWORD;
  const admin = adminEmail && adminPassword ? { email: adminEmail, password: adminPassword } : null;
  const report = options.report ?? ((line) => console.log(JSON.stringify(line)));
  const run = Math.random().toString(16).slice(2, 10);
  const steps = [];
  const consoleErrors = [];
  const failedResponses = [];
  const browser = await launch(options.chromium);
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.setDefaultTimeout(timeout);
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push({ text: msg.text(), url: msg.location()?.url ?? "" });
  });
  page.on("pageerror", (error) => consoleErrors.push({ text: `uncaught: ${error.message}`, url: page.url() }));
  page.on("response", (response) => {
    if (response.status() >= 400) failedResponses.push({ status: response.status(), url: response.url() });
  });

  async function step(name, fn) {
    const started = Date.now();
    try {
      const detail = (await fn()) ?? "";
      const line = { step: name, ok: true, detail: String(detail), ms: Date.now() - started };
      steps.push(line);
      report(line);
    } catch (error) {
      mkdirSync(artifacts, { recursive: true });
      const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      const shot = join(artifacts, `${slug}.png`);
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
      writeFileSync(join(artifacts, `${slug}.html`), await page.content().catch(() => ""));
      const line = { step: name, ok: false, detail: `${error.message.split("\n")[0]} (at ${page.url()}; screenshot ${shot})`, ms: Date.now() - started };
      steps.push(line);
      report(line);
      throw error;
    }
  }

  const email = `journey-student-${run}@example.com`;
  const password = "learn-me-123";
  let course = null;
  let ok = false;
  try {
    await step("a course to buy", async () => {
      course = await courseToBuy(base, run, admin);
      if (!course) throw new Error("no course with a lesson in the catalogue, and no ADMIN_EMAIL/ADMIN_PASSWORD to make one");
      return course.made ? `made “${course.title}” as a new instructor` : `found “${course.title}”`;
    });
    await step("browse the catalogue", async () => {
      await page.goto(base + "/");
      await page.getByRole("heading", { name: "Catalogue", level: 1 }).waitFor();
      await page.locator(".course-grid, .state-empty").first().waitFor();
      return `${await page.locator(".course-grid > li").count()} courses on the first page`;
    });
    await step("search by keyboard", async () => {
      let presses = 0;
      while (presses < 20 && !(await page.evaluate(() => document.activeElement?.getAttribute("type") === "search"))) {
        await page.keyboard.press("Tab");
        presses += 1;
      }
      if (presses >= 20) throw new Error("the search field cannot be reached with Tab");
      await page.keyboard.type(course.query);
      await page.keyboard.press("Enter");
      await page.getByRole("link", { name: course.title }).waitFor();
      return `reached with ${presses} Tab presses`;
    });
    await step("open the course", async () => {
      await page.getByRole("link", { name: course.title }).click();
      await page.getByRole("heading", { name: course.title, level: 1 }).waitFor();
      await page.getByRole("link", { name: "Buy this course" }).click();
      await page.getByRole("heading", { name: "Log in" }).waitFor();
    });
    await step("register", async () => {
      await page.getByRole("link", { name: "Create an account" }).click();
      await page.getByLabel("Name").fill("Journey Student");
      await page.getByLabel("E-mail").fill(email);
      await page.getByLabel("Password").fill(password);
      await page.getByLabel("Password").press("Enter");
      await page.getByText("Your account is ready. Log in to continue.").waitFor();
    });
    await step("log in", async () => {
      if ((await page.getByLabel("E-mail").inputValue()) !== email) throw new Error("the e-mail was not carried over");
      await page.getByLabel("Password").fill(password);
      await page.getByLabel("Password").press("Enter");
      await page.getByRole("heading", { name: `Buy ${course.title}` }).waitFor();
      await page.getByText("Signed in as").waitFor();
    });
    await step("a declined test card says why", async () => {
      await page.locator("summary", { hasText: "Test cards" }).click();
      await page.getByRole("button", { name: "Use card 4000000000000002" }).click();
      await page.getByLabel("CVC").fill("123");
      await page.getByRole("button", { name: /^Pay / }).click();
      await page.getByRole("alert").filter({ hasText: "Your card was declined." }).waitFor();
    });
    await step("buy with a good card and enrol", async () => {
      await page.getByRole("button", { name: "Use card 4242424242424242" }).click();
      await page.getByRole("button", { name: /^Pay / }).click();
      await page.getByRole("heading", { name: "You are enrolled" }).waitFor();
    });
    await step("read the lesson", async () => {
      await page.getByRole("link", { name: "Start the first lesson" }).click();
      const body = page.getByTestId("lesson-body");
      await body.waitFor();
      const text = await body.innerText();
      if (course.body !== null && text.trim() !== course.body.trim()) throw new Error(`lesson body was ${JSON.stringify(text.slice(0, 80))}`);
      if (!text.trim()) throw new Error("the lesson is empty");
      return `${text.length} characters through a signed link`;
    });
    await step("my courses", async () => {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My courses" }).click();
      await page.getByRole("heading", { name: "My courses" }).waitFor();
      await page.getByRole("link", { name: course.title }).waitFor();
    });
    await step("a student cannot reach the instructor's page", async () => {
      if (await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Teach" }).count()) {
        throw new Error("a student is offered the Teach link");
      }
      await page.goto(base + "/teach");
      await page.getByRole("heading", { name: "Instructors only" }).waitFor();
      if (await page.getByLabel("Title").count()) throw new Error("the course form is shown to a student");
    });
    await step("no console errors", async () => {
      // the one expected: the browser reports the declined payment's 402 as a failed resource load
      const unexpected = consoleErrors.filter(
        (e) => !(e.text.includes("status of 402") && e.url.includes("/api/payment/payments")),
      );
      if (unexpected.length) throw new Error(`console errors: ${JSON.stringify(unexpected)}`);
      const bad = failedResponses.filter((r) => !(r.status === 402 && r.url.includes("/api/payment/payments")));
      if (bad.length) throw new Error(`failed requests: ${JSON.stringify(bad)}`);
      return `${consoleErrors.length} expected (the declined card's 402)`;
    });
    ok = true;
  } catch {
    ok = false;
  } finally {
    await browser.close();
  }
  const summary = { ok, steps: steps.length, failed: steps.filter((s) => !s.ok).map((s) => s.step), base_url: base };
  report(summary);
  return { ok, steps };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runJourney().then(
    (result) => process.exit(result.ok ? 0 : 1),
    (error) => {
      console.error(`journey: ${error.message}`);
      process.exit(2);
    },
  );
}
