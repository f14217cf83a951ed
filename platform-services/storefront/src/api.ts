// The platform's HTTP API as the storefront uses it: every service under /api/<service>/ on the same origin
// (the edge routes it). Errors are thrown as ApiError with the services' {"error": {code, message}} shape.

export type Role = "student" | "instructor" | "admin";

export interface User {
  id: number;
  email: string;
  name: string;
  role: Role;
}

export interface Course {
  id: number;
  instructor_id: number;
  title: string;
  description: string;
  price_cents: number;
  currency: string;
}

export interface Lesson {
  id: number;
  course_id: number;
  title: string;
  position: number;
}

export interface CourseDetail extends Course {
  lessons: Lesson[];
}

export interface Page<T> {
  items: T[];
  page: number;
  page_size: number;
  total: number;
}

export interface Payment {
  id: number;
  course_id: number;
  amount_cents: number;
  currency: string;
  status: "succeeded" | "declined" | "processing";
  decline_code: string | null;
  card_last4: string;
}

export interface Enrollment {
  id: number;
  course_id: number;
  payment_id: number;
}

export interface LoginAnswer {
  access_token: string;
  expires_in: number;
  user: User;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** A network failure or a timeout: the request may or may not have reached the service. */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** answer as text instead of JSON (lesson bodies) */
  text?: boolean;
  /** non-2xx statuses whose body is an answer, not an error (402: a declined payment) */
  accept?: number[];
}

export type Fetcher = typeof fetch;

let fetcher: Fetcher = (...args) => fetch(...args);

/** Tests replace the transport; the app never does. */
export function setFetcher(f: Fetcher): void {
  fetcher = f;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`.trim();
  let details: unknown;
  try {
    const doc = await response.json();
    if (doc && typeof doc === "object" && doc.error) {
      code = String(doc.error.code ?? code);
      message = String(doc.error.message ?? message);
      details = doc.error.details;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message, details);
}

export interface Answer<T> {
  status: number;
  data: T;
  headers: Headers;
}

/** One request; resolves with status, parsed body and headers for 2xx, rejects with ApiError otherwise. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetcher(path, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      credentials: "same-origin",
    });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "unreachable", "The platform could not be reached. Check your connection and try again.");
  }
  if (!response.ok && !options.accept?.includes(response.status)) throw await errorFrom(response);
  const data = (options.text ? await response.text() : response.status === 204 ? null : await response.json()) as T;
  return { status: response.status, data, headers: response.headers };
}

export async function get<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await request<T>(path, options)).data;
}

export function coursesPath(q: string, page: number, pageSize: number): string {
  const params = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
  if (q.trim()) params.set("q", q.trim());
  return `/api/course/courses?${params.toString()}`;
}

export function formatPrice(cents: number, currency: string): string {
  if (cents === 0) return "Free";
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}
