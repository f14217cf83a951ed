import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { COURSE, FakeApi, instructor, student } from "../test/fakeApi";
import { renderApp } from "../test/render";

const page = (items: unknown[], total = items.length, p = 1) => ({ items, total, page: p, page_size: 12 });

describe("catalogue", () => {
  it("shows loading, then the courses with their prices", async () => {
    new FakeApi().on("GET", /^\/api\/course\/courses\?/, { status: 200, body: page([COURSE]) });
    renderApp("/");
    expect(screen.getByRole("status")).toHaveTextContent(/Loading/);
    expect(await screen.findByRole("link", { name: "Release Engineering" })).toHaveAttribute("href", "/courses/7");
    expect(screen.getByText("€49.00")).toBeTruthy();
    expect(screen.getByText("Page 1 of 1")).toBeTruthy();
  });

  it("searches by keyboard and says when nothing matches", async () => {
    const api = new FakeApi()
      .on("GET", /^\/api\/course\/courses\?/, { status: 200, body: page([COURSE]) })
      .on("GET", /q=zebra/, { status: 200, body: page([]) });
    renderApp("/");
    await screen.findByText("Release Engineering");
    await userEvent.type(screen.getByLabelText("Search courses"), "zebra{Enter}");
    expect(await screen.findByText(/No courses match “zebra”/)).toBeTruthy();
    expect(api.callsTo("GET", /q=zebra/)).toHaveLength(1);
  });

  it("pages through the catalogue", async () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ ...COURSE, id: i + 1, title: `Course ${i + 1}` }));
    const api = new FakeApi()
      .on("GET", /page=1&/, { status: 200, body: page(many, 13) })
      .on("GET", /page=2&/, { status: 200, body: page([{ ...COURSE, id: 13, title: "Course 13" }], 13, 2) });
    renderApp("/");
    await screen.findByText("Course 1");
    expect(screen.getByRole("button", { name: "Previous page" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByText("Course 13")).toBeTruthy();
    expect(screen.getByText("Page 2 of 2")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Next page" })).toBeDisabled();
    expect(api.callsTo("GET", /page=2&page_size=12/)).toHaveLength(1);
  });

  it("an empty catalogue says so", async () => {
    new FakeApi().on("GET", /^\/api\/course\/courses\?/, { status: 200, body: page([]) });
    renderApp("/");
    expect(await screen.findByText(/There are no courses yet/)).toBeTruthy();
  });

  it("a failure is an alert with a retry that loads again", async () => {
    let fail = true;
    new FakeApi().on("GET", /^\/api\/course\/courses\?/, () =>
      fail ? { status: 503, body: { error: { code: "dependency_unavailable", message: "database down" } } } : { status: 200, body: page([COURSE]) },
    );
    renderApp("/");
    expect(await screen.findByRole("alert")).toHaveTextContent("database down");
    fail = false;
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("Release Engineering")).toBeTruthy();
  });
});

describe("course page", () => {
  it("offers to buy when not enrolled, lists lessons without links", async () => {
    new FakeApi()
      .on("GET", /^\/api\/course\/courses\/7$/, { status: 200, body: COURSE })
      .on("GET", /enrollments\/check/, { status: 200, body: { enrolled: false } });
    renderApp("/courses/7", student());
    expect(await screen.findByRole("link", { name: "Buy this course" })).toHaveAttribute("href", "/courses/7/buy");
    expect(screen.queryByRole("link", { name: "Blue and green" })).toBeNull();
  });

  it("links the lessons when enrolled", async () => {
    new FakeApi()
      .on("GET", /^\/api\/course\/courses\/7$/, { status: 200, body: COURSE })
      .on("GET", /enrollments\/check/, { status: 200, body: { enrolled: true } });
    renderApp("/courses/7", student());
    expect(await screen.findByRole("link", { name: "Canaries" })).toHaveAttribute("href", "/courses/7/lessons/71");
  });

  it("an unknown course is a not-found page", async () => {
    new FakeApi().on("GET", /^\/api\/course\/courses\/99$/, { status: 404, body: { error: { code: "not_found", message: "no course 99" } } });
    renderApp("/courses/99");
    expect(await screen.findByRole("heading", { name: "Course not found" })).toBeTruthy();
  });
});

describe("log in and register", () => {
  it("a visitor sent to log in comes back to the page that asked", async () => {
    new FakeApi()
      .on("POST", /\/api\/user\/login/, { status: 200, body: { access_token: "tok", expires_in: 3600, user: student().user } })
      .on("GET", /\/api\/enrollment\/enrollments$/, { status: 200, body: { items: [] } });
    renderApp("/my-courses");
    await screen.findByRole("heading", { name: "Log in" });
    await userEvent.type(screen.getByLabelText("E-mail"), "s@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "secret-123{Enter}");
    expect(await screen.findByText(/not enrolled in any course yet/)).toBeTruthy();
    expect(screen.getByText(/Signed in as/)).toHaveTextContent("Sam");
    expect(JSON.parse(localStorage.getItem("storefront.session")!).token).toBe("tok");
  });

  it("wrong credentials are an alert", async () => {
    new FakeApi().on("POST", /\/api\/user\/login/, { status: 401, body: { error: { code: "invalid_credentials", message: "x" } } });
    renderApp("/login");
    await userEvent.type(await screen.findByLabelText("E-mail"), "s@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "nope-nope{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong e-mail or password.");
  });

  it("registration checks its fields before sending and then asks to log in", async () => {
    const api = new FakeApi().on("POST", /\/api\/user\/register/, { status: 201, body: student().user });
    renderApp("/register");
    await userEvent.click(await screen.findByRole("button", { name: "Create account" }));
    expect(screen.getByLabelText("Password")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Use at least 8 characters.")).toBeTruthy();
    expect(api.calls).toHaveLength(0);
    await userEvent.type(screen.getByLabelText("Name"), "Sam");
    await userEvent.type(screen.getByLabelText("E-mail"), "s@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "long-enough{Enter}");
    expect(await screen.findByText("Your account is ready. Log in to continue.")).toBeTruthy();
    expect(screen.getByLabelText("E-mail")).toHaveValue("s@example.com");
    expect(api.calls[0].body).toEqual({ name: "Sam", email: "s@example.com", password: "long-enough" });
  });
});

describe("checkout", () => {
  function shop() {
    return new FakeApi().on("GET", /^\/api\/course\/courses\/7$/, { status: 200, body: COURSE });
  }

  async function payWith(number: string) {
    const input = await screen.findByLabelText("Card number");
    await userEvent.clear(input);
    await userEvent.type(input, number);
    await userEvent.type(screen.getByLabelText("CVC"), "123");
    await userEvent.click(screen.getByRole("button", { name: /Pay|Try again/ }));
  }

  it("a declined test card shows why, and the next attempt uses a new key", async () => {
    let n = 0;
    const api = shop().on("POST", /\/api\/payment\/payments/, (call) => {
      n += 1;
      const card = (call.body as { card: { number: string } }).card.number;
      return card === "4000000000000002"
        ? { status: 402, body: { id: n, status: "declined", decline_code: "card_declined" } }
        : { status: 201, body: { id: n, course_id: 7, status: "succeeded", decline_code: null } };
    }).on("POST", /\/api\/enrollment\/enrollments/, { status: 201, body: { id: 3, course_id: 7, payment_id: 2 } });
    renderApp("/courses/7/buy", student());
    await payWith("4000000000000002");
    expect(await screen.findByRole("alert")).toHaveTextContent("Your card was declined.");
    await payWith("4242424242424242");
    expect(await screen.findByRole("heading", { name: "You are enrolled" })).toBeTruthy();
    const keys = api.callsTo("POST", /payments/).map((c) => c.headers["Idempotency-Key"]);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toEqual(keys[1]);
    expect(api.callsTo("POST", /enrollments/)[0].body).toEqual({ course_id: 7, payment_id: 2 });
    expect(screen.getByRole("link", { name: "Start the first lesson" })).toHaveAttribute("href", "/courses/7/lessons/70");
  });

  it("a lost answer is retried with the same key", async () => {
    let n = 0;
    const api = shop()
      .on("POST", /\/api\/payment\/payments/, () => (++n === 1 ? "network-error" : { status: 201, body: { id: 9, status: "succeeded" } }))
      .on("POST", /\/api\/enrollment\/enrollments/, { status: 201, body: { id: 3, course_id: 7, payment_id: 9 } });
    renderApp("/courses/7/buy", student());
    await payWith("4242424242424242");
    expect(await screen.findByRole("alert")).toHaveTextContent("you will not be charged twice");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("heading", { name: "You are enrolled" })).toBeTruthy();
    const keys = api.callsTo("POST", /payments/).map((c) => c.headers["Idempotency-Key"]);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toEqual(keys[1]);
  });

  it("lists the documented test cards, and Use fills the number in", async () => {
    shop();
    renderApp("/courses/7/buy", student());
    await screen.findByLabelText("Card number");
    const table = screen.getByRole("table");
    expect(within(table).getAllByRole("row")).toHaveLength(7);
    await userEvent.click(screen.getByRole("button", { name: "Use card 4000000000009995" }));
    expect(screen.getByLabelText("Card number")).toHaveValue("4000000000009995");
  });

  it("a visitor must log in first", async () => {
    shop();
    renderApp("/courses/7/buy");
    expect(await screen.findByRole("heading", { name: "Log in" })).toBeTruthy();
  });
});

describe("lesson viewer", () => {
  it("reads the lesson through a signed link, as text", async () => {
    const api = new FakeApi()
      .on("GET", /^\/api\/course\/courses\/7$/, { status: 200, body: COURSE })
      .on("POST", /\/link$/, { status: 200, body: { url: "/api/content/signed/7/70?u=5&exp=9&sig=abc", expires_at: 9 } })
      .on("GET", /^\/api\/content\/signed\//, { status: 200, text: "# Blue-green\n<b>not html</b>" });
    renderApp("/courses/7/lessons/70", student());
    expect(await screen.findByTestId("lesson-body")).toHaveTextContent("# Blue-green <b>not html</b>");
    expect(screen.getByRole("heading", { level: 1, name: "Blue and green" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Next: Canaries" })).toBeTruthy();
    expect(api.callsTo("GET", /signed/)[0].headers.Authorization).toBeUndefined();
    expect(api.callsTo("POST", /link$/)[0].headers.Authorization).toBe("Bearer student-token");
  });

  it("an expired link is replaced once", async () => {
    let n = 0;
    new FakeApi()
      .on("GET", /^\/api\/course\/courses\/7$/, { status: 200, body: COURSE })
      .on("POST", /\/link$/, () => ({ status: 200, body: { url: `/api/content/signed/7/70?n=${++n}`, expires_at: 9 } }))
      .on("GET", /n=1/, { status: 410, body: { error: { code: "link_expired", message: "expired" } } })
      .on("GET", /n=2/, { status: 200, text: "fresh" });
    renderApp("/courses/7/lessons/70", student());
    expect(await screen.findByTestId("lesson-body")).toHaveTextContent("fresh");
  });

  it("not enrolled: says how to get in", async () => {
    new FakeApi()
      .on("GET", /^\/api\/course\/courses\/7$/, { status: 200, body: COURSE })
      .on("POST", /\/link$/, { status: 403, body: { error: { code: "not_enrolled", message: "enrol" } } });
    renderApp("/courses/7/lessons/70", student());
    expect(await screen.findByRole("heading", { name: "Enrol to read this lesson" })).toBeTruthy();
  });
});

describe("instructor page", () => {
  it("a student is refused and sees no course form", async () => {
    const api = new FakeApi();
    renderApp("/teach", student());
    expect(await screen.findByRole("heading", { name: "Instructors only" })).toBeTruthy();
    expect(screen.queryByLabelText("Title")).toBeNull();
    expect(screen.queryByRole("link", { name: "Teach" })).toBeNull();
    expect(api.calls).toHaveLength(0);
  });

  it("an instructor creates a course and adds a lesson with its text", async () => {
    const mine = { ...COURSE, instructor_id: 2 };
    const api = new FakeApi()
      .on("GET", /^\/api\/course\/courses\?page_size=100/, { status: 200, body: page([mine, { ...COURSE, id: 8, instructor_id: 3, title: "Not mine" }]) })
      .on("POST", /^\/api\/course\/courses$/, { status: 201, body: { ...COURSE, id: 9, title: "New one" } })
      .on("POST", /\/courses\/7\/lessons$/, { status: 201, body: { id: 77, course_id: 7, title: "L", position: 3 } })
      .on("PUT", /\/api\/content\/courses\/7\/lessons\/77/, { status: 200, body: {} });
    renderApp("/teach", instructor());
    expect(await screen.findByRole("link", { name: "Release Engineering" })).toBeTruthy();
    expect(screen.queryByText("Not mine")).toBeNull();
    await userEvent.type(screen.getByLabelText("Title"), "New one");
    await userEvent.type(screen.getByLabelText("Price (EUR)"), "19.5{Enter}");
    expect(await screen.findByText("Created “New one”.")).toBeTruthy();
    expect(api.callsTo("POST", /^\/api\/course\/courses$/)[0].body).toEqual({ title: "New one", description: "", price_cents: 1950 });
    await userEvent.click(screen.getByText("Add a lesson"));
    await userEvent.type(screen.getByLabelText("Lesson title"), "L");
    await userEvent.type(screen.getByLabelText("Lesson text"), "Hello");
    await userEvent.click(screen.getByRole("button", { name: "Add lesson" }));
    await waitFor(() => expect(api.callsTo("PUT", /content/)).toHaveLength(1));
    expect(api.callsTo("PUT", /content/)[0].body).toEqual({ body: "Hello", content_type: "text/markdown" });
  });
});

describe("routing", () => {
  it("an unknown address is a not-found page", async () => {
    renderApp("/no/such/page");
    expect(await screen.findByRole("heading", { name: "Page not found" })).toBeTruthy();
  });
});
