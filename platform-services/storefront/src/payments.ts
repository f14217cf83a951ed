// Buying a course: the documented test cards, idempotency keys, and what each answer means to the buyer.
import { ApiError, type Payment } from "./api";

export interface TestCard {
  number: string;
  outcome: string;
}

/** The simulated provider's documented cards (platform-services/README.md, payment service). */
export const TEST_CARDS: readonly TestCard[] = [
  { number: "4242424242424242", outcome: "succeeds" },
  { number: "5555555555554444", outcome: "succeeds" },
  { number: "4000000000000002", outcome: "declined: card_declined" },
  { number: "4000000000009995", outcome: "declined: insufficient_funds" },
  { number: "4000000000000069", outcome: "declined: expired_card" },
  { number: "4000000000000127", outcome: "declined: incorrect_cvc" },
];

const DECLINES: Record<string, string> = {
  card_declined: "Your card was declined. Try another card.",
  insufficient_funds: "Your card has insufficient funds. Try another card.",
  expired_card: "Your card has expired. Check the expiry date or use another card.",
  incorrect_cvc: "The security code (CVC) is incorrect.",
};

/**
 * An Idempotency-Key for one purchase attempt (8-100 of [A-Za-z0-9._:-]). The same key is sent again when an
 * attempt's outcome is unknown (network failure, timeout, 5xx), so a retry can never charge twice.
 */
export function newIdempotencyKey(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(16));
  return "sf-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export type Outcome =
  | { kind: "paid"; payment: Payment; replayed: boolean }
  | { kind: "already-paid"; paymentId: number }
  | { kind: "declined"; code: string; message: string }
  | { kind: "invalid"; field: "number" | "card"; message: string }
  | { kind: "retry"; message: string } // outcome unknown: try again with the same key
  | { kind: "error"; message: string };

/** What an answer of POST /api/payment/payments means, and whether the next attempt keeps the key. */
export function outcomeOf(answer: { status: number; data: Payment; replayed: boolean } | ApiError): Outcome {
  if (!(answer instanceof ApiError)) {
    if (answer.data.status === "succeeded") return { kind: "paid", payment: answer.data, replayed: answer.replayed };
    if (answer.data.status === "declined") {
      const code = answer.data.decline_code ?? "card_declined";
      return { kind: "declined", code, message: DECLINES[code] ?? "Your card was declined." };
    }
    return { kind: "retry", message: "The payment is still being processed. Try again in a moment." };
  }
  const e = answer;
  if (e.status === 402) {
    const d = (e.details ?? {}) as { decline_code?: string };
    const code = d.decline_code ?? e.code;
    return { kind: "declined", code, message: DECLINES[code] ?? "Your card was declined." };
  }
  if (e.code === "already_paid") {
    const d = (e.details ?? {}) as { payment_id?: number };
    if (typeof d.payment_id === "number") return { kind: "already-paid", paymentId: d.payment_id };
  }
  if (e.code === "invalid_card_number") return { kind: "invalid", field: "number", message: "This card number is not valid." };
  if (e.status === 422 && e.code !== "idempotency_key_reused") return { kind: "invalid", field: "card", message: "Check the card details." };
  if (e.unreachable || e.status >= 500 || e.code === "payment_in_progress") {
    return { kind: "retry", message: "We could not confirm the payment. Try again: you will not be charged twice." };
  }
  return { kind: "error", message: e.message };
}

/** Whether the next attempt must use a new key: only after an answer that settled this attempt. */
export function keepsKey(outcome: Outcome): boolean {
  return outcome.kind === "retry";
}

export function luhnOk(number: string): boolean {
  if (!/^[0-9]{12,19}$/.test(number)) return false;
  let sum = 0;
  let double = false;
  for (let i = number.length - 1; i >= 0; i--) {
    let d = number.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
