// Create a student account; then log in (the account's e-mail is filled in).
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { ApiError, request, type User } from "../api";
import { Field } from "../components/Field";
import { PageTitle } from "../components/States";

export interface RegisterErrors {
  name?: string;
  email?: string;
  password?: string;
}

export function validateRegistration(name: string, email: string, password: string): RegisterErrors {
  const errors: RegisterErrors = {};
  if (!name.trim()) errors.name = "Enter your name.";
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.trim())) errors.email = "Enter an e-mail address such as ada@example.com.";
  if (password.length < 8) errors.password = "Use at least 8 characters.";
  return errors;
}

export default function Register() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<RegisterErrors>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = validateRegistration(name, email, password);
    setErrors(found);
    setFailure(null);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await request<User>("/api/user/register", { method: "POST", body: { name: name.trim(), email: email.trim(), password } });
      const next = params.get("next");
      navigate(`/login?registered=1&email=${encodeURIComponent(email.trim())}${next ? `&next=${encodeURIComponent(next)}` : ""}`);
    } catch (exc) {
      setBusy(false);
      if (exc instanceof ApiError && exc.status === 409) setErrors({ email: "An account with this e-mail exists already. Log in instead." });
      else if (exc instanceof ApiError && exc.status === 422) setFailure("Check the fields: " + exc.message);
      else setFailure(exc instanceof Error ? exc.message : String(exc));
    }
  }

  return (
    <section className="narrow">
      <PageTitle>Create an account</PageTitle>
      <form onSubmit={submit} noValidate>
        <Field label="Name" name="name" autoComplete="name" required value={name} error={errors.name} onChange={(e) => setName(e.target.value)} />
        <Field label="E-mail" type="email" name="email" autoComplete="email" required value={email} error={errors.email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          hint="At least 8 characters."
          value={password}
          error={errors.password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {failure && (
          <p className="form-error" role="alert">
            {failure}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p>
        Have an account? <Link to="/login">Log in</Link>
      </p>
    </section>
  );
}
