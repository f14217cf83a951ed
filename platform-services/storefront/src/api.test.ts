import { ApiError, coursesPath, formatPrice, request } from "./api";
import { FakeApi } from "./test/fakeApi";

describe("request", () => {
  it("turns the services' JSON errors into ApiError with code and message", async () => {
    new FakeApi().on("GET", /\/api\/course\/courses\/9/, { status: 404, body: { error: { code: "not_found", message: "no course 9" } } });
    const error = await request("/api/course/courses/9").catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code, error.message]).toEqual([404, "not_found", "no course 9"]);
  });

  it("a network failure is an unreachable ApiError", async () => {
    new FakeApi().on("GET", /./, "network-error");
    const error = (await request("/api/course/courses").catch((e) => e)) as ApiError;
    expect(error.unreachable).toBe(true);
  });

  it("sends the token and JSON body; accepted statuses are answers", async () => {
    const api = new FakeApi().on("POST", /payments/, { status: 402, body: { status: "declined" } });
    const answer = await request("/api/payment/payments", { method: "POST", token: "t0k", body: { a: 1 }, accept: [402] });
    expect(answer.status).toBe(402);
    expect(api.calls[0].headers.Authorization).toBe("Bearer t0k");
    expect(api.calls[0].body).toEqual({ a: 1 });
  });
});

describe("helpers", () => {
  it("builds catalogue queries with paging and a trimmed search", () => {
    expect(coursesPath("  canary ", 2, 12)).toBe("/api/course/courses?page=2&page_size=12&q=canary");
    expect(coursesPath("", 1, 12)).toBe("/api/course/courses?page=1&page_size=12");
  });

  it("formats prices", () => {
    expect(formatPrice(4900, "EUR")).toBe("€49.00");
    expect(formatPrice(0, "EUR")).toBe("Free");
  });
});
