// fetch for the REST API: JSON both ways (or a FormData body, sent as multipart), an explicit timeout on every call, and the server's one
// error shape {"error": {"code", "message"}} turned into ApiError. A 401 tells the app to sign in
// (app/auth.ts registers the handler); the caller still gets the ApiError.

const DEFAULT_TIMEOUT_MS = 10_000;

export class ApiError extends Error {
  readonly status: number; // HTTP status; 0 when the request never got an answer
  readonly code: string; // an ErrorCode from the server, or "network" / "timeout" / "aborted"
  readonly retryAfterS: number | null; // the server's Retry-After, in seconds (503 busy, 429)

  constructor(status: number, code: string, message: string, retryAfterS: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

interface ApiOptions {
  timeoutMs?: number;
  signal?: AbortSignal; // an outer signal, e.g. a screen going away
  headers?: Record<string, string>; // more request headers, e.g. Idempotency-Key
}

type UnauthorizedHandler = (path: string) => void;
let onUnauthorized: UnauthorizedHandler = () => {};

/** Called with the path whenever a request answers 401 (not for /api/auth/me probes). */
export function setUnauthorizedHandler(handler: UnauthorizedHandler): void {
  onUnauthorized = handler;
}

export async function api<T>(
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  { timeoutMs = DEFAULT_TIMEOUT_MS, signal, headers = {} }: ApiOptions = {},
): Promise<T> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const abortFromOuter = () => controller.abort();
  signal?.addEventListener("abort", abortFromOuter, { once: true });
  const multipart = body instanceof FormData; // the browser writes its Content-Type and boundary
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers:
        body === undefined || multipart
          ? { Accept: "application/json", ...headers }
          : { Accept: "application/json", "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : multipart ? body : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
  } catch {
    if (timedOut) throw new ApiError(0, "timeout", `No answer from the server in ${timeoutMs / 1000} s`);
    if (signal?.aborted) throw new ApiError(0, "aborted", "Cancelled");
    throw new ApiError(0, "network", navigator.onLine ? "Cannot reach the server" : "You are offline");
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", abortFromOuter);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const detail = errorDetail(data);
    const error = new ApiError(
      response.status,
      detail?.code ?? `http_${response.status}`,
      detail?.message ?? `${response.status} ${response.statusText || "error"}`,
      retryAfter(response.headers.get("Retry-After")),
    );
    if (response.status === 401) onUnauthorized(path);
    throw error;
  }
  return data as T;
}

function retryAfter(header: string | null): number | null {
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null; // the HTTP-date form is not used
}

function errorDetail(data: unknown): { code: string; message: string } | null {
  if (typeof data !== "object" || data === null || !("error" in data)) return null;
  const error = (data as { error: unknown }).error;
  if (typeof error !== "object" || error === null) return null;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== "string" || typeof message !== "string") return null;
  return { code, message };
}

/** A message fit to show a person, for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
