import { loadSession, sessionFrom } from "./session";

describe("session", () => {
  const answer = { access_token: "abc", expires_in: 3600, user: { id: 1, email: "a@b.c", name: "A", role: "student" as const } };

  it("expires a minute before the token does", () => {
    expect(sessionFrom(answer, 1_000).expiresAt).toBe(1_000 + 3540 * 1000);
  });

  it("an expired stored session is dropped", () => {
    localStorage.setItem("storefront.session", JSON.stringify(sessionFrom(answer, 0)));
    expect(loadSession(1_000)).not.toBeNull();
    expect(loadSession(3600 * 1000)).toBeNull();
    expect(localStorage.getItem("storefront.session")).toBeNull();
  });

  it("garbage in storage is no session", () => {
    localStorage.setItem("storefront.session", "{not json");
    expect(loadSession()).toBeNull();
  });
});
