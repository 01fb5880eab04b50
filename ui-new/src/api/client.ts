/**
 * The one typed `fetch` wrapper every API call goes through.
 *
 * Per call: a new trace (W3C `traceparent`, one span id per attempt) and an `X-Request-ID` per attempt, a timeout
 * through `AbortController`, retries with exponential backoff and jitter for idempotent methods only (and only for
 * answers worth retrying: 408, 425, 429, 502, 503, 504, or no answer), `Retry-After` honoured. A failure is
 * thrown as `ApiError` (status, body, request id, trace id) or `NetworkError`, and reported to error tracking
 * once, after the last attempt.
 */

import { captureApiError, captureNetworkError } from "../lib/errorTracking";
import { newRequestId, newSpanId, newTraceId, traceparent } from "../lib/trace";
import { ApiError, NetworkError, type RequestContext } from "./errors";

export { ApiError, NetworkError, type RequestContext } from "./errors";

export type HttpMethod = "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "POST" | "PATCH";

/** Methods a retry cannot turn into a second side effect (RFC 9110 section 9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRYABLE_STATUS = new Set([408, 425, 429, 502, 503, 504]);

export interface RequestOptions {
  method?: HttpMethod;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Retries after the first attempt (idempotent methods only; ignored for POST and PATCH). */
  retries?: number;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  context: RequestContext;
}

/** What the client tells its observers after every call (the demo page shows the last one). */
export interface CallRecord {
  context: RequestContext;
  status: number | null;
  ok: boolean;
}

export interface Reporter {
  apiError(error: ApiError): void;
  networkError(error: NetworkError): void;
}

export interface ClientOptions {
  /** Prefix for relative paths; absolute URLs are called as they are. Default: same origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
  retries?: number;
  /** First backoff delay; doubles each retry, with full jitter, capped at `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Origins that get the `traceparent` and `X-Request-ID` headers besides the page's own (sending them elsewhere
   * would leak ids and trigger CORS preflights the other side may refuse).
   */
  propagateTo?: readonly string[];
  reporter?: Reporter;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultReporter: Reporter = {
  apiError: (error) => void captureApiError(error),
  networkError: (error) => void captureNetworkError(error),
};

export class ApiClient {
  private readonly options: Required<Omit<ClientOptions, "fetch">> & { fetch: typeof fetch };
  private readonly listeners = new Set<(record: CallRecord) => void>();

  constructor(options: ClientOptions = {}) {
    this.options = {
      baseUrl: "",
      timeoutMs: 10_000,
      retries: 2,
      backoffMs: 200,
      maxBackoffMs: 5_000,
      propagateTo: [],
      reporter: defaultReporter,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      random: Math.random,
      ...options,
      fetch: options.fetch ?? ((...args) => globalThis.fetch(...args)),
    };
  }

  /** Called after every call, success or failure; returns the unsubscribe function. */
  onCall(listener: (record: CallRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get<T>(path: string, options: Omit<RequestOptions, "method" | "body"> = {}): Promise<ApiResponse<T>> {
    return this.request<T>(path, { ...options, method: "GET" });
  }

  post<T>(path: string, body: unknown, options: Omit<RequestOptions, "method" | "body"> = {}): Promise<ApiResponse<T>> {
    return this.request<T>(path, { ...options, method: "POST", body });
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const method = options.method ?? "GET";
    const url = this.url(path);
    const traceId = newTraceId();
    const maxRetries = IDEMPOTENT_METHODS.has(method) ? Math.max(0, options.retries ?? this.options.retries) : 0;
    const propagate = this.propagates(url);
    // Serialised once, before any attempt: a body that cannot be (a cycle, a BigInt) is the caller's bug, thrown
    // as it is, not a network failure to retry and report.
    const payload = options.body !== undefined ? JSON.stringify(options.body) : undefined;
    let context: RequestContext = { endpoint: path, method, requestId: "", traceId, spanId: "", attempts: 0 };

    for (let attempt = 0; ; attempt++) {
      context = { ...context, requestId: newRequestId(), spanId: newSpanId(), attempts: attempt + 1 };
      const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
      if (options.body !== undefined) headers["Content-Type"] = "application/json";
      if (propagate) {
        headers["traceparent"] = traceparent(context);
        headers["X-Request-ID"] = context.requestId;
      }
      let response: Response;
      let body: unknown;
      try {
        ({ response, body } = await this.fetchWithTimeout(url, {
          method,
          headers,
          ...(payload !== undefined ? { body: payload } : {}),
        }, options.timeoutMs ?? this.options.timeoutMs, options.signal));
      } catch (cause) {
        if (options.signal?.aborted) throw cause; // the caller cancelled: not a failure to report
        const timedOut = cause instanceof DOMException && cause.name === "TimeoutError";
        if (attempt < maxRetries) {
          await this.options.sleep(this.backoff(attempt, null));
          continue;
        }
        const error = new NetworkError(context, { timedOut, cause });
        this.finish(context, null, false);
        this.options.reporter.networkError(error);
        throw error;
      }
      // The server keeps a sane X-Request-ID and returns it; use what it answered, it is what it logged.
      const answered = response.headers.get("X-Request-ID");
      if (answered) context = { ...context, requestId: answered };
      if (response.ok) {
        const data = body as T;
        this.finish(context, response.status, true);
        return { data, status: response.status, context };
      }
      if (attempt < maxRetries && RETRYABLE_STATUS.has(response.status)) {
        await this.options.sleep(this.backoff(attempt, response.headers.get("Retry-After")));
        continue;
      }
      const error = new ApiError(response.status, body, context);
      this.finish(context, response.status, false);
      this.options.reporter.apiError(error);
      throw error;
    }
  }

  /** Delay before retry `attempt + 1`: Retry-After when the server gave one, else capped exponential with jitter. */
  backoff(attempt: number, retryAfter: string | null): number {
    const cap = this.options.maxBackoffMs;
    if (retryAfter) {
      const seconds = Number(retryAfter);
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
      if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, cap);
    }
    const ceiling = Math.min(cap, this.options.backoffMs * 2 ** attempt);
    return Math.round(ceiling / 2 + (this.options.random() * ceiling) / 2);
  }

  /** The answer and its body: the timeout covers the body too (headers sent, then a stalled body). */
  private async fetchWithTimeout(
    url: string, init: RequestInit, timeoutMs: number, outer?: AbortSignal,
  ): Promise<{ response: Response; body: unknown }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
    const cancel = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) cancel();
    outer?.addEventListener("abort", cancel, { once: true });
    try {
      const response = await this.options.fetch(url, { ...init, signal: controller.signal });
      return { response, body: await readBody(response, controller.signal) };
    } catch (error) {
      // fetch rejects with the abort reason; make sure a timeout is recognisable whatever the runtime threw.
      if (controller.signal.aborted && !outer?.aborted) throw new DOMException("timed out", "TimeoutError");
      throw error;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", cancel);
    }
  }

  private url(path: string): string {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(path) ? path : this.options.baseUrl + path;
  }

  private propagates(url: string): boolean {
    const here = typeof location !== "undefined" ? location.origin : undefined;
    let origin: string;
    try {
      origin = new URL(url, here ?? "http://localhost").origin;
    } catch {
      return false;
    }
    return origin === (here ?? "http://localhost") || this.options.propagateTo.includes(origin);
  }

  private finish(context: RequestContext, status: number | null, ok: boolean): void {
    for (const listener of this.listeners) {
      try {
        listener({ context, status, ok });
      } catch {
        // an observer's bug must not break the call
      }
    }
  }
}

async function readBody(response: Response, signal: AbortSignal): Promise<unknown> {
  if (response.status === 204) return null;
  const text = await response.text().catch((error: unknown) => {
    if (signal.aborted) throw error; // timed out or cancelled while the body came in
    return "";
  });
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.length > 2048 ? text.slice(0, 2048) : text;
  }
}

/** The app's client: same origin, reports to error tracking. */
export const api = new ApiClient();
