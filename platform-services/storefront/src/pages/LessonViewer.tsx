// A lesson: ask the content service for a signed, expiring link, then read the body through it (no token on
// the link itself). The body is shown as text, never as HTML.
import { Link, useParams } from "react-router-dom";
import { ApiError, get, request, type CourseDetail } from "../api";
import { Failed, Loading, PageTitle } from "../components/States";
import { useSession } from "../session";
import { useLoad } from "../useLoad";

interface View {
  course: CourseDetail;
  body: string;
}

/** The signed link's path must stay on this origin's content API (it is fetched as given). */
export function isContentLink(url: string): boolean {
  return url.startsWith("/api/content/signed/");
}

export async function readLesson(courseId: string, lessonId: string, token: string | null, signal?: AbortSignal): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const link = await request<{ url: string; expires_at: number }>(
      `/api/content/courses/${encodeURIComponent(courseId)}/lessons/${encodeURIComponent(lessonId)}/link`,
      { method: "POST", token, signal },
    );
    if (!isContentLink(link.data.url)) throw new ApiError(502, "bad_link", "The content service gave an unexpected link.");
    try {
      return (await request<string>(link.data.url, { text: true, signal })).data;
    } catch (exc) {
      // a link that expired between issue and use: ask for a new one, once
      if (exc instanceof ApiError && exc.status === 410 && attempt === 0) continue;
      throw exc;
    }
  }
}

export default function LessonViewer() {
  const { courseId = "", lessonId = "" } = useParams();
  const { session } = useSession();
  const token = session?.token ?? null;
  const [view, retry] = useLoad<View>(
    async (signal) => {
      const [course, body] = await Promise.all([
        get<CourseDetail>(`/api/course/courses/${encodeURIComponent(courseId)}`, { signal }),
        readLesson(courseId, lessonId, token, signal),
      ]);
      return { course, body };
    },
    [courseId, lessonId, token],
  );
  if (view.state === "loading") return <Loading what="the lesson" />;
  if (view.state === "failed") {
    const e = view.error;
    if (e instanceof ApiError && e.code === "not_enrolled") {
      return (
        <section>
          <PageTitle>Enrol to read this lesson</PageTitle>
          <p>
            This lesson is for enrolled students. <Link to={`/courses/${courseId}`}>See the course</Link>
          </p>
        </section>
      );
    }
    if (e instanceof ApiError && e.status === 404) {
      return (
        <section>
          <PageTitle>Lesson not found</PageTitle>
          <p>
            This lesson has no content yet. <Link to={`/courses/${courseId}`}>Back to the course</Link>
          </p>
        </section>
      );
    }
    return <Failed error={e} onRetry={retry} title="The lesson could not be loaded" />;
  }
  const { course, body } = view.data;
  const lessons = course.lessons;
  const index = lessons.findIndex((l) => String(l.id) === lessonId);
  const lesson = lessons[index];
  const prev = index > 0 ? lessons[index - 1] : undefined;
  const next = index >= 0 && index < lessons.length - 1 ? lessons[index + 1] : undefined;
  return (
    <article className="lesson">
      <p className="crumbs">
        <Link to={`/courses/${course.id}`}>{course.title}</Link>
      </p>
      <PageTitle>{lesson?.title ?? "Lesson"}</PageTitle>
      <div className="lesson-body" data-testid="lesson-body">
        {body}
      </div>
      <nav className="pager" aria-label="Lessons">
        {prev ? <Link to={`/courses/${course.id}/lessons/${prev.id}`}>Previous: {prev.title}</Link> : <span />}
        {next ? <Link to={`/courses/${course.id}/lessons/${next.id}`}>Next: {next.title}</Link> : <span />}
      </nav>
    </article>
  );
}
