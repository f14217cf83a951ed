import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ApiError, type Payment } from "./api";
import { TEST_CARDS, keepsKey, luhnOk, newIdempotencyKey, outcomeOf } from "./payments";

const payment = (over: Partial<Payment>): Payment => ({
  id: 1, course_id: 7, amount_cents: 4900, currency: "EUR", status: "succeeded", decline_code: null, card_last4: "4242", ...over,
});

describe("test cards", () => {
  it("lists exactly the cards the platform documents, with their outcomes", () => {
    const readme = readFileSync(resolve(process.cwd(), "../README.md"), "utf8") // vitest runs in the storefront folder;
    const line = readme.split("\n").find((l) => l.includes("**Test cards**"))!;
    const block = readme.slice(readme.indexOf(line), readme.indexOf("\n- **", readme.indexOf(line) + 1)).replace(/\s+/g, " ");
    const documented = [...block.matchAll(/`(\d{16})`/g)].map((m) => m[1]);
    expect(TEST_CARDS.map((c) => c.number)).toEqual(documented);
    for (const card of TEST_CARDS.filter((c) => c.outcome.startsWith("declined"))) {
      const code = card.outcome.split(": ")[1];
      expect(block).toMatch(new RegExp("`" + card.number + "` → `" + code + "`"));
    }
  });

  it("are all valid card numbers", () => {
    expect(TEST_CARDS.every((c) => luhnOk(c.number))).toBe(true);
    expect(luhnOk("4242424242424241")).toBe(false);
    expect(luhnOk("42")).toBe(false);
  });
});

describe("idempotency keys", () => {
  it("fit the payment service's pattern and differ per attempt", () => {
    const a = newIdempotencyKey();
    const b = newIdempotencyKey();
    expect(a).toMatch(/^[A-Za-z0-9._:-]{8,100}$/);
    expect(a).not.toEqual(b);
  });

  it("come from the random source", () => {
    expect(newIdempotencyKey((bytes) => bytes.fill(0xab))).toBe("sf-" + "ab".repeat(16));
  });
});

describe("payment outcomes", () => {
  it("a succeeded payment is paid, and the next attempt gets a new key", () => {
    const o = outcomeOf({ status: 201, data: payment({}), replayed: false });
    expect(o.kind).toBe("paid");
    expect(keepsKey(o)).toBe(false);
  });

  it.each([
    ["card_declined", "Your card was declined. Try another card."],
    ["insufficient_funds", "Your card has insufficient funds. Try another card."],
    ["expired_card", "Your card has expired. Check the expiry date or use another card."],
    ["incorrect_cvc", "The security code (CVC) is incorrect."],
  ])("a decline (%s) says why", (code, message) => {
    const o = outcomeOf({ status: 402, data: payment({ status: "declined", decline_code: code }), replayed: false });
    expect(o).toEqual({ kind: "declined", code, message });
    expect(keepsKey(o)).toBe(false);
  });

  it("an unknown outcome keeps the key so a retry cannot charge twice", () => {
    for (const error of [
      new ApiError(0, "unreachable", "down"),
      new ApiError(503, "dependency_unavailable", "course down"),
      new ApiError(409, "payment_in_progress", "wait"),
    ]) {
      const o = outcomeOf(error);
      expect(o.kind).toBe("retry");
      expect(keepsKey(o)).toBe(true);
    }
  });

  it("already paid leads to enrolment with the earlier payment", () => {
    expect(outcomeOf(new ApiError(409, "already_paid", "paid", { payment_id: 12 }))).toEqual({ kind: "already-paid", paymentId: 12 });
  });

  it("a bad card number is a field error", () => {
    expect(outcomeOf(new ApiError(422, "invalid_card_number", "no"))).toMatchObject({ kind: "invalid", field: "number" });
  });
});
