// Log in with e-mail and password; back to the page that asked for it (?next=), else the catalogue.
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { ApiError, request, type LoginAnswer } from "../api";
import { Field } from "../components/Field";
import { PageTitle } from "../components/States";
import { useSession } from "../session";

/** Only same-site paths are followed after logging in (never another origin). */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export default function Login() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { signIn } = useSession();
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await request<LoginAnswer>("/api/user/login", { method: "POST", body: { email, password } });
      signIn(answer.data);
      navigate(safeNext(params.get("next")), { replace: true });
    } catch (exc) {
      setBusy(false);
      if (exc instanceof ApiError && (exc.status === 401 || exc.status === 422)) setError("Wrong e-mail or password.");
      else setError(exc instanceof Error ? exc.message : String(exc));
    }
  }

  return (
    <section className="narrow">
      <PageTitle>Log in</PageTitle>
      {params.get("registered") && <p role="status">Your account is ready. Log in to continue.</p>}
      <form onSubmit={submit} noValidate aria-describedby={error ? "login-error" : undefined}>
        <Field label="E-mail" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field label="Password" type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        {error && (
          <p id="login-error" className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        New here? <Link to={`/register${params.get("next") ? `?next=${encodeURIComponent(params.get("next") ?? "")}` : ""}`}>Create an account</Link>
      </p>
    </section>
  );
}
