// Buy a course: pay with a card (one Idempotency-Key per attempt, re-sent when the outcome is unknown), then
// enrol with the payment. The documented test cards are listed so their outcomes can be tried.
import { useRef, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { ApiError, formatPrice, get, request, type Course, type Enrollment, type Payment } from "../api";
import { Field } from "../components/Field";
import { Failed, Loading, PageTitle } from "../components/States";
import { TEST_CARDS, keepsKey, luhnOk, newIdempotencyKey, outcomeOf, type Outcome } from "../payments";
import { useSession } from "../session";
import { useLoad } from "../useLoad";

type Stage =
  | { step: "form" }
  | { step: "paying" }
  | { step: "enrolling"; paymentId: number }
  | { step: "done"; enrollment: Enrollment; lessonId?: number };

export default function Checkout() {
  const { courseId = "" } = useParams();
  const { session } = useSession();
  const token = session?.token ?? null;
  const [course, retry] = useLoad(
    (signal) => get<Course & { lessons: { id: number }[] }>(`/api/course/courses/${encodeURIComponent(courseId)}`, { signal }),
    [courseId],
  );
  const [number, setNumber] = useState("");
  const [month, setMonth] = useState("12");
  const [year, setYear] = useState(String(new Date().getFullYear() + 3));
  const [cvc, setCvc] = useState("");
  const [stage, setStage] = useState<Stage>({ step: "form" });
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [numberError, setNumberError] = useState<string | null>(null);
  const key = useRef<string>(newIdempotencyKey());

  async function enrol(paymentId: number, courseIdNum: number, lessonId?: number) {
    setStage({ step: "enrolling", paymentId });
    try {
      const answer = await request<Enrollment>("/api/enrollment/enrollments", {
        method: "POST",
        token,
        body: { course_id: courseIdNum, payment_id: paymentId },
      });
      setStage({ step: "done", enrollment: answer.data, lessonId });
    } catch (exc) {
      setStage({ step: "form" });
      setOutcome({ kind: "retry", message: `Paid, but the enrolment failed (${exc instanceof Error ? exc.message : exc}). Try again: you will not be charged twice.` });
    }
  }

  async function pay(event: FormEvent) {
    event.preventDefault();
    if (course.state !== "ready") return;
    const digits = number.replace(/\s+/g, "");
    if (!luhnOk(digits)) {
      setNumberError("Enter a valid card number (12 to 19 digits).");
      return;
    }
    setNumberError(null);
    setOutcome(null);
    setStage({ step: "paying" });
    const c = course.data;
    let result: Outcome;
    try {
      const answer = await request<Payment>("/api/payment/payments", {
        method: "POST",
        token,
        accept: [402],
        headers: { "Idempotency-Key": key.current },
        body: { course_id: c.id, card: { number: digits, exp_month: Number(month), exp_year: Number(year), cvc } },
      });
      result = outcomeOf({ status: answer.status, data: answer.data, replayed: answer.headers.get("Idempotent-Replayed") === "true" });
    } catch (exc) {
      result = outcomeOf(exc instanceof ApiError ? exc : new ApiError(0, "unreachable", String(exc)));
    }
    if (!keepsKey(result)) key.current = newIdempotencyKey();
    if (result.kind === "paid") return enrol(result.payment.id, c.id, c.lessons[0]?.id);
    if (result.kind === "already-paid") return enrol(result.paymentId, c.id, c.lessons[0]?.id);
    if (result.kind === "invalid" && result.field === "number") setNumberError(result.message);
    setOutcome(result);
    setStage({ step: "form" });
  }

  if (course.state === "loading") return <Loading what="the course" />;
  if (course.state === "failed") return <Failed error={course.error} onRetry={retry} title="The course could not be loaded" />;
  const c = course.data;

  if (stage.step === "done") {
    return (
      <section className="narrow">
        <PageTitle>You are enrolled</PageTitle>
        <p role="status">
          Payment received and you are enrolled in <strong>{c.title}</strong>.
        </p>
        <p>
          {stage.lessonId ? (
            <Link className="button" to={`/courses/${c.id}/lessons/${stage.lessonId}`}>
              Start the first lesson
            </Link>
          ) : (
            <Link className="button" to={`/courses/${c.id}`}>
              Go to the course
            </Link>
          )}{" "}
          <Link to="/my-courses">My courses</Link>
        </p>
      </section>
    );
  }

  const busy = stage.step !== "form";
  return (
    <section className="narrow">
      <PageTitle>{`Buy ${c.title}`}</PageTitle>
      <p className="price">Price: {formatPrice(c.price_cents, c.currency)}</p>
      <form onSubmit={pay} noValidate aria-busy={busy}>
        <fieldset disabled={busy}>
          <legend>Card</legend>
          <Field
            label="Card number"
            name="cardnumber"
            inputMode="numeric"
            autoComplete="cc-number"
            required
            value={number}
            error={numberError}
            onChange={(e) => setNumber(e.target.value)}
          />
          <div className="row">
            <Field label="Expiry month" name="exp-month" type="number" min={1} max={12} autoComplete="cc-exp-month" required value={month} onChange={(e) => setMonth(e.target.value)} />
            <Field label="Expiry year" name="exp-year" type="number" min={2000} max={2100} autoComplete="cc-exp-year" required value={year} onChange={(e) => setYear(e.target.value)} />
            <Field label="CVC" name="cvc" inputMode="numeric" autoComplete="cc-csc" required maxLength={4} value={cvc} onChange={(e) => setCvc(e.target.value)} />
          </div>
        </fieldset>
        {outcome && outcome.kind !== "paid" && outcome.kind !== "already-paid" && (
          <div className={`outcome outcome-${outcome.kind}`} role="alert">
            <p>{outcome.message}</p>
            {outcome.kind === "declined" && <p className="code">Reason: {outcome.code}</p>}
          </div>
        )}
        <button type="submit" disabled={busy}>
          {stage.step === "paying" ? "Paying…" : stage.step === "enrolling" ? "Enrolling…" : outcome?.kind === "retry" ? "Try again" : `Pay ${formatPrice(c.price_cents, c.currency)}`}
        </button>
      </form>
      <details className="test-cards">
        <summary>Test cards</summary>
        <p>Payments are simulated. Any future expiry date and any 3-digit CVC work with these numbers:</p>
        <table>
          <caption className="visually-hidden">Test card numbers and their outcomes</caption>
          <thead>
            <tr>
              <th scope="col">Card number</th>
              <th scope="col">Outcome</th>
              <th scope="col">
                <span className="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {TEST_CARDS.map((card) => (
              <tr key={card.number}>
                <td>
                  <code>{card.number}</code>
                </td>
                <td>{card.outcome}</td>
                <td>
                  <button type="button" className="link-button" onClick={() => setNumber(card.number)} aria-label={`Use card ${card.number}`}>
                    Use
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </section>
  );
}
