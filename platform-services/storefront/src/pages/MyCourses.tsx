// The courses the signed-in user is enrolled in, each with a way into its lessons.
import { Link } from "react-router-dom";
import { get, type CourseDetail, type Enrollment } from "../api";
import { Empty, Failed, Loading, PageTitle } from "../components/States";
import { useSession } from "../session";
import { useLoad } from "../useLoad";

export default function MyCourses() {
  const { session } = useSession();
  const token = session?.token ?? null;
  const [mine, retry] = useLoad(
    async (signal) => {
      const { items } = await get<{ items: Enrollment[] }>("/api/enrollment/enrollments", { token, signal });
      return Promise.all(items.map((e) => get<CourseDetail>(`/api/course/courses/${e.course_id}`, { signal })));
    },
    [token],
  );
  return (
    <section>
      <PageTitle>My courses</PageTitle>
      {mine.state === "loading" && <Loading what="your courses" />}
      {mine.state === "failed" && <Failed error={mine.error} onRetry={retry} title="Your courses could not be loaded" />}
      {mine.state === "ready" && mine.data.length === 0 && (
        <Empty>
          <p>
            You are not enrolled in any course yet. <Link to="/">Browse the catalogue</Link>
          </p>
        </Empty>
      )}
      {mine.state === "ready" && mine.data.length > 0 && (
        <ul className="course-list">
          {mine.data.map((course) => (
            <li key={course.id} className="card">
              <h2>
                <Link to={`/courses/${course.id}`}>{course.title}</Link>
              </h2>
              {course.lessons.length ? (
                <ol className="lessons">
                  {course.lessons.map((lesson) => (
                    <li key={lesson.id}>
                      <Link to={`/courses/${course.id}/lessons/${lesson.id}`}>{lesson.title}</Link>
                    </li>
                  ))}
                </ol>
              ) : (
                <p>No lessons yet.</p>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
