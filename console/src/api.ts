// The console's only way to the server: same-origin fetches of the public API. A browser session
// is the HttpOnly `tg_session` cookie (never readable here); unsafe requests echo the readable
// `tg_csrf` cookie in X-CSRF-Token, as the API requires of cookie sessions.

export const CSRF_COOKIE = "tg_csrf";

/** An API error carrying the problem+json `detail` (what the console shows the user). */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;
  readonly field: string | undefined;
  readonly position: number | undefined;

  constructor(status: number, detail: string, field?: string, position?: number) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.field = field;
    this.position = position;
  }
}

export function readCookie(cookies: string, name: string): string | null {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

interface Problem {
  /** Prometheus' own error answers (the metrics read API passes them through). */
  error?: unknown;
  detail?: unknown;
  title?: unknown;
  field?: unknown;
  position?: unknown;
}

/** The error a failed response stands for: its problem `detail`, else its title or status. */
export async function problemOf(response: Response): Promise<ApiError> {
  let body: Problem = {};
  try {
    body = (await response.json()) as Problem;
  } catch {
    // not JSON (a proxy's error page): fall back to the status line
  }
  const text =
    typeof body.detail === "string" && body.detail
      ? body.detail
      : typeof body.error === "string" && body.error
        ? body.error
        : typeof body.title === "string"
        ? body.title
        : `${response.status} ${response.statusText}`;
  return new ApiError(
    response.status,
    text,
    typeof body.field === "string" ? body.field : undefined,
    typeof body.position === "number" ? body.position : undefined,
  );
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  body?: unknown;
  /** A data-plane key (`tgp_…`): sent as Bearer instead of the session cookie. */
  key?: string;
}

/** Call the API; JSON in and out, `undefined` for 204, ApiError for any non-2xx. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.key) {
    headers.authorization = `Bearer ${options.key}`;
  } else if (method !== "GET") {
    const csrf = readCookie(document.cookie, CSRF_COOKIE);
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: options.key ? "omit" : "same-origin",
      body: options.body === undefined ? null : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, "The API cannot be reached: check your connection and retry.");
  }
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}
