// The instructor's page: their courses, a new course, a new lesson with its content. Students are refused
// here (and by the services themselves, whatever a browser sends).
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { formatPrice, get, request, type Course, type Lesson, type Page } from "../api";
import { Field, TextArea } from "../components/Field";
import { Empty, Failed, Loading, PageTitle } from "../components/States";
import { useSession } from "../session";
import { useLoad } from "../useLoad";

export function canTeach(role: string | undefined): boolean {
  return role === "instructor" || role === "admin";
}

/** "49.00" or "49" → 4900; null when it is not an amount. */
export function parsePrice(text: string): number | null {
  const m = /^\s*(\d{1,6})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? "0").padEnd(2, "0"));
}

export default function Teach() {
  const { session } = useSession();
  if (!session || !canTeach(session.user.role)) {
    return (
      <section>
        <PageTitle>Instructors only</PageTitle>
        <p role="alert">This page is for instructors. Your account ({session?.user.role ?? "visitor"}) cannot create or change courses.</p>
        <p>
          <Link to="/">Back to the catalogue</Link>
        </p>
      </section>
    );
  }
  return <Instructor />;
}

function Instructor() {
  const { session } = useSession();
  const token = session?.token ?? null;
  const me = session?.user.id;
  const [courses, retry] = useLoad(
    async (signal) => (await get<Page<Course>>("/api/course/courses?page_size=100", { signal })).items.filter((c) => c.instructor_id === me),
    [me],
  );
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [price, setPrice] = useState("");
  const [priceError, setPriceError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  async function create(event: FormEvent) {
    event.preventDefault();
    const cents = parsePrice(price);
    setPriceError(cents === null ? "Enter a price such as 49 or 49.00." : null);
    if (cents === null || !title.trim()) return;
    setFailure(null);
    try {
      const made = await request<Course>("/api/course/courses", {
        method: "POST",
        token,
        body: { title: title.trim(), description, price_cents: cents },
      });
      setMessage(`Created “${made.data.title}”.`);
      setTitle("");
      setDescription("");
      setPrice("");
      retry();
    } catch (exc) {
      setFailure(exc instanceof Error ? exc.message : String(exc));
    }
  }

  return (
    <section>
      <PageTitle>Teach</PageTitle>
      {message && <p role="status">{message}</p>}
      <h2>Your courses</h2>
      {courses.state === "loading" && <Loading what="your courses" />}
      {courses.state === "failed" && <Failed error={courses.error} onRetry={retry} />}
      {courses.state === "ready" && courses.data.length === 0 && (
        <Empty>
          <p>You have no courses yet: create your first one below.</p>
        </Empty>
      )}
      {courses.state === "ready" && courses.data.length > 0 && (
        <ul className="course-list">
          {courses.data.map((c) => (
            <li key={c.id} className="card">
              <h3>
                <Link to={`/courses/${c.id}`}>{c.title}</Link> <span className="price">{formatPrice(c.price_cents, c.currency)}</span>
              </h3>
              <AddLesson course={c} token={token} onAdded={setMessage} />
            </li>
          ))}
        </ul>
      )}
      <h2>New course</h2>
      <form onSubmit={create} noValidate>
        <Field label="Title" name="title" required value={title} onChange={(e) => setTitle(e.target.value)} />
        <TextArea label="Description" name="description" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
        <Field label="Price (EUR)" name="price" inputMode="decimal" required value={price} error={priceError} onChange={(e) => setPrice(e.target.value)} />
        {failure && (
          <p className="form-error" role="alert">
            {failure}
          </p>
        )}
        <button type="submit">Create course</button>
      </form>
    </section>
  );
}

function AddLesson({ course, token, onAdded }: { course: Course; token: string | null; onAdded: (m: string) => void }) {
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [failure, setFailure] = useState<string | null>(null);
  async function add(event: FormEvent) {
    event.preventDefault();
    if (!title.trim()) return;
    setFailure(null);
    try {
      const lesson = await request<Lesson>(`/api/course/courses/${course.id}/lessons`, { method: "POST", token, body: { title: title.trim() } });
      await request(`/api/content/courses/${course.id}/lessons/${lesson.data.id}`, {
        method: "PUT",
        token,
        body: { body, content_type: "text/markdown" },
      });
      onAdded(`Added the lesson “${lesson.data.title}” to “${course.title}”.`);
      setTitle("");
      setBody("");
    } catch (exc) {
      setFailure(exc instanceof Error ? exc.message : String(exc));
    }
  }
  return (
    <details>
      <summary>Add a lesson</summary>
      <form onSubmit={add} noValidate>
        <Field label="Lesson title" name="lesson-title" required value={title} onChange={(e) => setTitle(e.target.value)} />
        <TextArea label="Lesson text" name="lesson-body" rows={6} value={body} onChange={(e) => setBody(e.target.value)} />
        {failure && (
          <p className="form-error" role="alert">
            {failure}
          </p>
        )}
        <button type="submit">Add lesson</button>
      </form>
    </details>
  );
}
