// The catalogue: search (title and description) and paging, both kept in the address so Back works.
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { coursesPath, formatPrice, get, type Course, type Page } from "../api";
import { Field } from "../components/Field";
import { Empty, Failed, Loading, PageTitle } from "../components/States";
import { useLoad } from "../useLoad";

export const PAGE_SIZE = 12;

export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

export default function Catalogue() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const [draft, setDraft] = useState(q);
  const [result, retry] = useLoad((signal) => get<Page<Course>>(coursesPath(q, page, PAGE_SIZE), { signal }), [q, page]);

  function search(event: FormEvent) {
    event.preventDefault();
    const next = new URLSearchParams();
    if (draft.trim()) next.set("q", draft.trim());
    setParams(next);
  }

  function goTo(p: number) {
    const next = new URLSearchParams(params);
    next.set("page", String(p));
    setParams(next);
  }

  return (
    <section aria-labelledby="catalogue-title">
      <div id="catalogue-title">
        <PageTitle>Catalogue</PageTitle>
      </div>
      <form role="search" className="search" onSubmit={search}>
        <Field label="Search courses" type="search" name="q" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      {result.state === "loading" && <Loading what="courses" />}
      {result.state === "failed" && <Failed error={result.error} onRetry={retry} title="The catalogue could not be loaded" />}
      {result.state === "ready" && result.data.items.length === 0 && (
        <Empty>
          {q ? (
            <p>
              No courses match “{q}”. <Link to="/">Show all courses</Link>
            </p>
          ) : (
            <p>There are no courses yet. Check back soon.</p>
          )}
        </Empty>
      )}
      {result.state === "ready" && result.data.items.length > 0 && (
        <>
          <p className="count" aria-live="polite">
            {result.data.total} course{result.data.total === 1 ? "" : "s"}
            {q ? ` matching “${q}”` : ""}
          </p>
          <ul className="course-grid">
            {result.data.items.map((course) => (
              <li key={course.id} className="card">
                <h2>
                  <Link to={`/courses/${course.id}`}>{course.title}</Link>
                </h2>
                <p className="description">{course.description || "No description yet."}</p>
                <p className="price">{formatPrice(course.price_cents, course.currency)}</p>
              </li>
            ))}
          </ul>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={page <= 1} onClick={() => goTo(page - 1)}>
              Previous page
            </button>
            <span>
              Page {page} of {pageCount(result.data.total, PAGE_SIZE)}
            </span>
            <button type="button" disabled={page >= pageCount(result.data.total, PAGE_SIZE)} onClick={() => goTo(page + 1)}>
              Next page
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
