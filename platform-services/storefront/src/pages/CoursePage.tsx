// One course: description, price and lessons; buy it, or open its lessons when enrolled.
import { Link, useParams } from "react-router-dom";
import { ApiError, formatPrice, get, type CourseDetail } from "../api";
import { Failed, Loading, PageTitle } from "../components/States";
import { useSession } from "../session";
import { useLoad } from "../useLoad";

interface View {
  course: CourseDetail;
  enrolled: boolean;
}

export default function CoursePage() {
  const { courseId = "" } = useParams();
  const { session } = useSession();
  const token = session?.token ?? null;
  const [view, retry] = useLoad<View>(
    async (signal) => {
      const course = await get<CourseDetail>(`/api/course/courses/${encodeURIComponent(courseId)}`, { signal });
      let enrolled = false;
      if (token) {
        const check = await get<{ enrolled: boolean }>(`/api/enrollment/enrollments/check?course_id=${course.id}`, { token, signal });
        enrolled = check.enrolled;
      }
      return { course, enrolled };
    },
    [courseId, token],
  );

  if (view.state === "loading") return <Loading what="the course" />;
  if (view.state === "failed") {
    const missing = view.error instanceof ApiError && (view.error.status === 404 || view.error.status === 422);
    return missing ? (
      <section>
        <PageTitle>Course not found</PageTitle>
        <p>
          There is no such course. <Link to="/">Back to the catalogue</Link>
        </p>
      </section>
    ) : (
      <Failed error={view.error} onRetry={retry} title="The course could not be loaded" />
    );
  }
  const { course, enrolled } = view.data;
  const first = course.lessons[0];
  return (
    <article className="course">
      <PageTitle>{course.title}</PageTitle>
      <p className="description">{course.description || "No description yet."}</p>
      <p className="price">{formatPrice(course.price_cents, course.currency)}</p>
      {enrolled ? (
        <p className="enrolled">
          You are enrolled.{" "}
          {first && (
            <Link className="button" to={`/courses/${course.id}/lessons/${first.id}`}>
              Start the first lesson
            </Link>
          )}
        </p>
      ) : (
        <p>
          <Link className="button" to={`/courses/${course.id}/buy`}>
            Buy this course
          </Link>
        </p>
      )}
      <h2>Lessons</h2>
      {course.lessons.length === 0 ? (
        <p className="state state-empty">This course has no lessons yet.</p>
      ) : (
        <ol className="lessons">
          {course.lessons.map((lesson) => (
            <li key={lesson.id}>
              {enrolled ? <Link to={`/courses/${course.id}/lessons/${lesson.id}`}>{lesson.title}</Link> : lesson.title}
            </li>
          ))}
        </ol>
      )}
    </article>
  );
}
