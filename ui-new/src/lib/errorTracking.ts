/**
 * Error tracking with the Sentry browser SDK, configured at runtime from the backend's `GET /monitoring/config`
 * (`runtimeConfig.ts`; one build serves every environment). No DSN means error tracking is off and every function
 * here is a no-op. `tracesSampleRate` is passed on, but no browser tracing integration is added: the trace of a
 * request is the API client's `traceparent`, continued by the backend.
 *
 * - Envelopes go to the backend's tunnel `POST /monitoring/tunnel`, never to a third party directly.
 * - Global handlers: the SDK's `window.onerror` / `unhandledrejection` integration (on by default).
 * - `captureApiError` / `captureNetworkError` report a failed API call with its endpoint, method, status, request
 *   id and trace id; the event's `contexts.trace` is the request's trace, so the Sentry event and the backend's
 *   server span share one trace id.
 * - One failure, one event: an error reported here is remembered, and the global handlers' event for the same
 *   error object (an API error nobody caught becomes an unhandled rejection) is dropped.
 * - `beforeSend` scrubs e-mails, tokens, card numbers and passwords from messages, URLs, bodies, breadcrumbs.
 */

import * as Sentry from "@sentry/browser";
import type { Breadcrumb, BrowserOptions, ErrorEvent, EventHint } from "@sentry/browser";

import { ApiError, NetworkError, type RequestContext } from "../api/errors";
import type { SentryRuntimeConfig } from "./runtimeConfig";
import { scrubText, scrubValue } from "./scrub";
import { newTraceId } from "./trace";

/** Error messages that are browser noise, not bugs of ours. */
export const IGNORED_ERRORS: readonly RegExp[] = [
  /ResizeObserver loop (limit exceeded|completed with undelivered notifications)/i,
  /^Script error\.?$/, // a cross-origin script's error: no message, no stack, nothing to act on
  /Non-Error promise rejection captured with value: Object Not Found Matching Id/,
];

/** Frames from browser extensions and injected scripts. */
export const EXTENSION_URL = /^(chrome|moz|safari(-web)?|ms-browser|edge)-extension:\/\/|^webkit-masked-url:/i;

const reported = new WeakMap<object, string>(); // error object -> id of the one event reported for it
let enabled = false;

/**
 * Start error tracking; returns whether it is on. `overrides` are extra SDK options (tests pass a transport).
 */
export function initErrorTracking(config: SentryRuntimeConfig, overrides: Partial<BrowserOptions> = {}): boolean {
  if (!config.dsn) {
    enabled = false;
    return false;
  }
  Sentry.init({
    dsn: config.dsn,
    tunnel: config.tunnel,
    environment: config.environment,
    ...(config.release ? { release: config.release } : {}),
    sampleRate: config.sampleRate,
    tracesSampleRate: config.tracesSampleRate,
    dataCollection: { userInfo: false, cookies: false, httpBodies: [] },
    ignoreErrors: [...IGNORED_ERRORS],
    denyUrls: [EXTENSION_URL],
    beforeSend,
    beforeBreadcrumb,
    ...overrides,
  });
  enabled = true;
  return true;
}

export function isErrorTrackingEnabled(): boolean {
  return enabled;
}

/** Report a non-2xx answer of the backend, with its request's context. Returns the event id ("" when off). */
export function captureApiError(error: ApiError): string {
  const { context } = error;
  return captureOnce(error, context, (scope) => {
    scope.setLevel(error.status >= 500 ? "error" : "warning");
    scope.setTag("http.status_code", String(error.status));
    scope.setContext("api", {
      endpoint: context.endpoint,
      method: context.method,
      status_code: error.status,
      request_id: context.requestId,
      trace_id: context.traceId,
      attempts: context.attempts,
      response_body: truncate(error.body),
    });
    scope.setFingerprint(["api-error", context.method, pathOf(context.endpoint), String(error.status)]);
  });
}

/** Report a call that got no answer (refused, offline, timed out), with its request's context. */
export function captureNetworkError(error: NetworkError): string {
  const { context } = error;
  return captureOnce(error, context, (scope) => {
    scope.setLevel("error");
    scope.setTag("network.timed_out", String(error.timedOut));
    scope.setContext("api", {
      endpoint: context.endpoint,
      method: context.method,
      status_code: null,
      request_id: context.requestId,
      trace_id: context.traceId,
      attempts: context.attempts,
      timed_out: error.timedOut,
    });
    scope.setFingerprint(["network-error", context.method, pathOf(context.endpoint)]);
  });
}

/** Report any other error once (e.g. one a component caught and handled). */
export function captureError(error: unknown): string {
  return captureOnce(error, undefined, () => undefined);
}

/**
 * Identify the user by a pseudonym: the SHA-256 of the username (never the username or e-mail itself).
 * `null` forgets the user (log out). Returns the pseudonym.
 */
export async function setUser(username: string | null): Promise<string | null> {
  if (username === null) {
    if (enabled) Sentry.setUser(null);
    return null;
  }
  const id = await pseudonymousId(username);
  if (enabled) Sentry.setUser({ id });
  return id;
}

export async function pseudonymousId(raw: string): Promise<string> {
  const text = raw.trim().toLowerCase();
  if (globalThis.crypto?.subtle) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`otel-distro-user:${text}`));
    return "u_" + Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  // Not a secure context (plain http on a non-local host): FNV-1a, still not the name in clear text.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    h1 = Math.imul(h1 ^ text.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 ^ text.charCodeAt(text.length - 1 - i), 16777619) >>> 0;
  }
  return "u_" + h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}

/** Send what is queued (before the page goes away, in tests). */
export async function flushErrorTracking(timeoutMs = 2000): Promise<boolean> {
  return enabled ? Sentry.flush(timeoutMs) : true;
}

// -- internals ------------------------------------------------------------------------------------------------

/** Capture `error` unless it was reported already; with a request's context, the event joins that request's trace. */
function captureOnce(error: unknown, context: RequestContext | undefined, decorate: (scope: Sentry.Scope) => void): string {
  if (!enabled) return "";
  if (error !== null && typeof error === "object") {
    const earlier = reported.get(error);
    if (earlier !== undefined) return earlier;
  }
  const eventId = newTraceId(); // 32 hex, the format of a Sentry event id
  if (error !== null && typeof error === "object") reported.set(error, eventId);
  Sentry.withScope((scope) => {
    if (context) {
      const { traceId, spanId } = context;
      scope.setPropagationContext({ traceId, propagationSpanId: spanId, sampleRand: Math.random(), sampled: true });
      scope.setTag("trace_id", traceId);
      scope.setTag("request_id", context.requestId);
      scope.setTag("http.method", context.method);
      scope.setTag("api.endpoint", pathOf(context.endpoint));
    }
    decorate(scope);
    Sentry.captureException(error, { event_id: eventId });
  });
  return eventId;
}

/** The SDK's `beforeSend`: drops noise and second events for one failure, pins API traces, scrubs. */
export function beforeSend(event: ErrorEvent, hint: EventHint): ErrorEvent | null {
  if (isNoise(event)) return null;
  const original = hint.originalException;
  if (original !== null && typeof original === "object") {
    const first = reported.get(original);
    if (first !== undefined && first !== event.event_id) return null; // already reported by captureApiError & co.
    if (first === undefined) reported.set(original, event.event_id ?? "");
    if (original instanceof ApiError || original instanceof NetworkError) {
      event.contexts = {
        ...event.contexts,
        trace: { ...event.contexts?.trace, trace_id: original.context.traceId, span_id: original.context.spanId },
      };
    }
  }
  return scrubEvent(event);
}

/** Events from browser extensions and known browser noise. */
export function isNoise(event: ErrorEvent): boolean {
  const messages = [event.message ?? "", ...(event.exception?.values ?? []).map((v) => `${v.type ?? ""}: ${v.value ?? ""}`)];
  if (messages.some((m) => IGNORED_ERRORS.some((re) => re.test(m)))) return true;
  for (const value of event.exception?.values ?? []) {
    // The frame that threw (Sentry lists frames outermost first). An extension frame further out is only a
    // wrapper our own code was called through (extensions patch addEventListener, fetch, timers): a real bug.
    const frames = (value.stacktrace?.frames ?? []).filter((frame) => frame.filename || frame.abs_path);
    const thrower = frames[frames.length - 1];
    if (thrower && (EXTENSION_URL.test(thrower.filename ?? "") || EXTENSION_URL.test(thrower.abs_path ?? ""))) {
      return true;
    }
  }
  return false;
}

/** The event with personal data and secrets scrubbed everywhere they can hide. */
export function scrubEvent(event: ErrorEvent): ErrorEvent {
  if (event.message) event.message = scrubText(event.message);
  if (event.logentry?.message) event.logentry.message = scrubText(event.logentry.message);
  for (const value of event.exception?.values ?? []) {
    if (value.value) value.value = scrubText(value.value);
  }
  if (event.request) {
    const request = event.request;
    if (request.url) request.url = scrubText(request.url);
    if (typeof request.query_string === "string") request.query_string = scrubText(request.query_string);
    if (request.data !== undefined) request.data = scrubValue(request.data);
    if (request.headers) request.headers = scrubValue(request.headers);
    delete request.cookies;
  }
  if (event.breadcrumbs) event.breadcrumbs = event.breadcrumbs.map(scrubBreadcrumb);
  if (event.extra) event.extra = scrubValue(event.extra);
  if (event.tags) event.tags = scrubValue(event.tags);
  if (event.contexts) {
    const { trace, ...rest } = event.contexts;
    event.contexts = { ...scrubValue(rest), ...(trace ? { trace } : {}) };
  }
  if (event.user) event.user = event.user.id !== undefined ? { id: event.user.id } : {};
  if (event.transaction) event.transaction = scrubText(event.transaction);
  if (event.fingerprint) event.fingerprint = event.fingerprint.map(scrubText); // built from the endpoint's path
  return event;
}

function scrubBreadcrumb(crumb: Breadcrumb): Breadcrumb {
  const out: Breadcrumb = { ...crumb };
  if (out.message) out.message = scrubText(out.message);
  if (out.data) out.data = scrubValue(out.data);
  return out;
}

function beforeBreadcrumb(crumb: Breadcrumb): Breadcrumb | null {
  // The SDK's own tunnel posts are not the app's activity.
  if (crumb.category === "fetch" && typeof crumb.data?.["url"] === "string" && crumb.data["url"].includes("/monitoring/tunnel")) {
    return null;
  }
  return scrubBreadcrumb(crumb);
}

function pathOf(endpoint: string): string {
  try {
    const url = new URL(endpoint, "http://placeholder.invalid");
    // Numbers and UUIDs in paths group as one issue: /items/3 and /items/4 are the same failure.
    return url.pathname.replace(/\/\d+(?=\/|$)/g, "/{id}").replace(/\/[0-9a-f-]{32,36}(?=\/|$)/gi, "/{id}");
  } catch {
    return endpoint;
  }
}

function truncate(body: unknown): unknown {
  const scrubbed = scrubValue(body);
  const text = typeof scrubbed === "string" ? scrubbed : JSON.stringify(scrubbed) ?? "";
  return text.length > 2048 ? `${text.slice(0, 2048)}…` : scrubbed;
}
