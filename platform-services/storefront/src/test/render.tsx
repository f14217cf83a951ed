import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { App } from "../App";
import { SessionProvider, type Session } from "../session";

/** The whole app at ``path``, signed in as ``session`` (or a visitor). */
export function renderApp(path: string, session: Session | null = null) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionProvider initial={session}>
        <App />
      </SessionProvider>
    </MemoryRouter>,
  );
}
