// The shell: header, navigation and the routes. Every page is its own lazily loaded chunk, so the first
// page a visitor opens downloads only itself and the shell (the build checks that budget).
import { lazy, Suspense, type ReactNode } from "react";
import { Link, Navigate, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { Loading } from "./components/States";
import { useSession } from "./session";

const Catalogue = lazy(() => import("./pages/Catalogue"));
const CoursePage = lazy(() => import("./pages/CoursePage"));
const Checkout = lazy(() => import("./pages/Checkout"));
const Login = lazy(() => import("./pages/Login"));
const Register = lazy(() => import("./pages/Register"));
const MyCourses = lazy(() => import("./pages/MyCourses"));
const LessonViewer = lazy(() => import("./pages/LessonViewer"));
const Teach = lazy(() => import("./pages/Teach"));
const NotFound = lazy(() => import("./pages/NotFound"));

/** Pages that need a signed-in user send visitors to log in first, and back afterwards. */
export function RequireUser({ children }: { children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (!session) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  return <>{children}</>;
}

function Header() {
  const { session, signOut } = useSession();
  const role = session?.user.role;
  return (
    <header className="site-header">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Link to="/" className="brand">
        Course Platform
      </Link>
      <nav aria-label="Main">
        <ul>
          <li>
            <NavLink to="/" end>
              Catalogue
            </NavLink>
          </li>
          {session && (
            <li>
              <NavLink to="/my-courses">My courses</NavLink>
            </li>
          )}
          {(role === "instructor" || role === "admin") && (
            <li>
              <NavLink to="/teach">Teach</NavLink>
            </li>
          )}
          {session ? (
            <li className="who">
              <span>
                Signed in as <strong>{session.user.name}</strong>
              </span>{" "}
              <button type="button" className="link-button" onClick={signOut}>
                Log out
              </button>
            </li>
          ) : (
            <>
              <li>
                <NavLink to="/login">Log in</NavLink>
              </li>
              <li>
                <NavLink to="/register">Register</NavLink>
              </li>
            </>
          )}
        </ul>
      </nav>
    </header>
  );
}

export function App() {
  return (
    <>
      <Header />
      <main id="main">
        <Suspense fallback={<Loading what="the page" />}>
          <Routes>
            <Route path="/" element={<Catalogue />} />
            <Route path="/courses/:courseId" element={<CoursePage />} />
            <Route
              path="/courses/:courseId/buy"
              element={
                <RequireUser>
                  <Checkout />
                </RequireUser>
              }
            />
            <Route
              path="/courses/:courseId/lessons/:lessonId"
              element={
                <RequireUser>
                  <LessonViewer />
                </RequireUser>
              }
            />
            <Route path="/login" element={<Login />} />
            <Route path="/register" element={<Register />} />
            <Route
              path="/my-courses"
              element={
                <RequireUser>
                  <MyCourses />
                </RequireUser>
              }
            />
            <Route
              path="/teach"
              element={
                <RequireUser>
                  <Teach />
                </RequireUser>
              }
            />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
      <footer className="site-footer">
        <p>Course Platform · payments are simulated: use the test cards</p>
      </footer>
    </>
  );
}
