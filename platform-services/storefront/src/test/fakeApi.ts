// A stand-in for the platform's HTTP API in unit tests: routes answer with JSON; every call is recorded.
import { setFetcher } from "../api";

export interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string>; text?: string } | "network-error";
type Handler = (call: Call) => Reply | Promise<Reply>;

export class FakeApi {
  calls: Call[] = [];
  private routes: { method: string; pattern: RegExp; handler: Handler }[] = [];

  constructor() {
    setFetcher(async (input, init) => {
      const url = new URL(String(input), "http://storefront.test");
      const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>));
      const call: Call = {
        method: init?.method ?? "GET",
        path: url.pathname + url.search,
        headers,
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
      };
      this.calls.push(call);
      const route = this.routes.find((r) => r.method === call.method && r.pattern.test(call.path));
      if (!route) return new Response(JSON.stringify({ error: { code: "no_route", message: `no fake for ${call.method} ${call.path}` } }), { status: 404 });
      const reply = await route.handler(call);
      if (reply === "network-error") throw new TypeError("Failed to fetch");
      const body = reply.text ?? (reply.body === undefined ? "" : JSON.stringify(reply.body));
      return new Response(body, { status: reply.status, headers: { "Content-Type": "application/json", ...reply.headers } });
    });
  }

  on(method: string, pattern: RegExp, handler: Handler | Reply): this {
    this.routes.unshift({ method, pattern, handler: typeof handler === "function" ? handler : () => handler });
    return this;
  }

  callsTo(method: string, pattern: RegExp): Call[] {
    return this.calls.filter((c) => c.method === method && pattern.test(c.path));
  }
}

export const COURSE = {
  id: 7,
  instructor_id: 2,
  title: "Release Engineering",
  description: "Ship safely",
  price_cents: 4900,
  currency: "EUR",
  lessons: [
    { id: 70, course_id: 7, title: "Blue and green", position: 1 },
    { id: 71, course_id: 7, title: "Canaries", position: 2 },
  ],
};

export function student(id = 5) {
  return { token: "student-token", user: { id, email: "s@example.com", name: "Sam", role: "student" as const }, expiresAt: Date.now() + 3600_000 };
}

export function instructor(id = 2) {
  return { token: "teacher-token", user: { id, email: "t@example.com", name: "Tess", role: "instructor" as const }, expiresAt: Date.now() + 3600_000 };
}
