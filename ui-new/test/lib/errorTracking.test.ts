import * as Sentry from "@sentry/browser";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { ApiClient } from "../../src/api/client";
import { ApiError, NetworkError, type RequestContext } from "../../src/api/errors";
import {
  captureApiError,
  captureNetworkError,
  flushErrorTracking,
  initErrorTracking,
  isNoise,
  pseudonymousId,
  setUser,
} from "../../src/lib/errorTracking";
import { parseTraceparent } from "../../src/lib/trace";

const DSN = "http://0123456789abcdef@sentry.invalid/4242";

interface Posted {
  url: string;
  header: Record<string, unknown>;
  items: Array<{ type: string; payload: Record<string, unknown> }>;
  raw: string;
}

const posted: Posted[] = [];

function parseEnvelope(raw: string): Omit<Posted, "url"> {
  const lines = raw.split("\n").filter((l) => l.length > 0);
  const header = JSON.parse(lines[0]!) as Record<string, unknown>;
  const items: Posted["items"] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    items.push({ type: (JSON.parse(lines[i]!) as { type: string }).type, payload: JSON.parse(lines[i + 1]!) });
  }
  return { header, items, raw };
}

const tunnelFetch = vi.fn(async (url: RequestInfo | URL, init: RequestInit = {}) => {
  const body = init.body;
  const raw = typeof body === "string" ? body : new TextDecoder().decode(body as Uint8Array);
  posted.push({ url: String(url), ...parseEnvelope(raw) });
  return new Response("{}", { status: 200 });
});

function events(): Array<Record<string, unknown>> {
  return posted.flatMap((p) => p.items.filter((i) => i.type === "event").map((i) => i.payload));
}

async function settled(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  await flushErrorTracking(2000);
}

const context = (over: Partial<RequestContext> = {}): RequestContext => ({
  endpoint: "/fail",
  method: "GET",
  requestId: "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  attempts: 1,
  ...over,
});

beforeAll(() => {
  const on = initErrorTracking(
    { dsn: DSN, environment: "test", release: "ui@1.0.0", tracesSampleRate: 0, sampleRate: 1, tunnel: "/monitoring/tunnel" },
    { transport: (options) => Sentry.makeFetchTransport(options, tunnelFetch as unknown as typeof fetch) },
  );
  expect(on).toBe(true);
});

beforeEach(async () => {
  await settled();
  posted.length = 0;
});

describe("envelopes", () => {
  it("go to the backend's tunnel with the DSN in the envelope header, never to Sentry directly", async () => {
    Sentry.captureMessage("hello");
    await settled();
    expect(posted.length).toBeGreaterThan(0);
    for (const p of posted) {
      expect(p.url).toBe("/monitoring/tunnel");
      expect(p.header["dsn"]).toBe(DSN);
    }
    const [event] = events();
    expect(event).toMatchObject({ environment: "test", release: "ui@1.0.0", message: "hello" });
  });
});

// What the browser does with an uncaught error and an unhandled rejection. (vitest's jsdom window is not the
// global object the SDK instruments, so the test calls the global handlers the way a browser does; the
// end-to-end test in tests/ui_new/ does it in a real Chromium.)
function browserReportsError(error: Error | undefined, message = error?.message ?? ""): void {
  const handler = (globalThis as { onerror?: OnErrorEventHandler }).onerror;
  expect(typeof handler).toBe("function");
  (handler as (...args: unknown[]) => unknown)(message, "http://localhost/assets/app.js", 10, 5, error);
}

function browserReportsRejection(reason: unknown): void {
  const handler = (globalThis as { onunhandledrejection?: unknown }).onunhandledrejection;
  expect(typeof handler).toBe("function");
  (handler as (event: unknown) => void)(Object.assign(new Event("unhandledrejection"), { reason, promise: Promise.resolve() }));
}

describe("global handlers", () => {
  it("report an error thrown outside any try (window.onerror)", async () => {
    const error = new Error("thrown in a click handler");
    browserReportsError(error);
    await settled();
    const [event, ...more] = events();
    expect(more).toEqual([]);
    expect(event!["exception"]).toMatchObject({ values: [{ type: "Error", value: "thrown in a click handler",
      mechanism: { type: "auto.browser.global_handlers.onerror", handled: false } }] });
  });

  it("report an unhandled promise rejection", async () => {
    const reason = new Error("nobody awaited me");
    browserReportsRejection(reason);
    await settled();
    const [sent, ...more] = events();
    expect(more).toEqual([]);
    expect(sent!["exception"]).toMatchObject({ values: [{ value: "nobody awaited me",
      mechanism: { type: "auto.browser.global_handlers.onunhandledrejection", handled: false } }] });
  });

  it("ignore ResizeObserver noise and errors from browser extensions", async () => {
    browserReportsError(undefined, "ResizeObserver loop completed with undelivered notifications.");
    const fromExtension = new Error("injected");
    fromExtension.stack = "Error: injected\n    at run (chrome-extension://abcdefghijklmnop/content.js:1:10)";
    browserReportsError(fromExtension);
    browserReportsError(new Error("a real bug")); // the control: this one must arrive
    await settled();
    expect(events().map((e) => (e["exception"] as { values: Array<{ value: string }> }).values[0]!.value)).toEqual(["a real bug"]);
    // Sentry lists frames outermost first: the last one is where the error was thrown.
    expect(isNoise({ type: undefined, exception: { values: [{ type: "TypeError", value: "x",
      stacktrace: { frames: [{ filename: "http://localhost/app.js" }, { filename: "chrome-extension://abcdef/content.js" }] } }] } })).toBe(true);
    // Thrown by our code, called through an extension's wrapper (of addEventListener, fetch, ...): a real bug.
    expect(isNoise({ type: undefined, exception: { values: [{ type: "TypeError", value: "x",
      stacktrace: { frames: [{ filename: "chrome-extension://abcdef/content.js" }, { filename: "http://localhost/app.js" }] } }] } })).toBe(false);
    expect(isNoise({ type: undefined, exception: { values: [{ type: "TypeError", value: "x",
      stacktrace: { frames: [{ filename: "http://localhost/app.js" }] } }] } })).toBe(false);
  });
});

describe("API and network errors", () => {
  it("carry endpoint, method, status, request id and trace id; the event's trace is the request's", async () => {
    const error = new ApiError(500, { detail: "boom" }, context());
    const id = captureApiError(error);
    await settled();
    const [event, ...more] = events();
    expect(more).toEqual([]);
    expect(event!["event_id"]).toBe(id);
    expect(event!["contexts"]).toMatchObject({
      api: { endpoint: "/fail", method: "GET", status_code: 500, request_id: context().requestId, trace_id: context().traceId,
        response_body: { detail: "boom" } },
      trace: { trace_id: context().traceId, span_id: context().spanId },
    });
    expect(event!["tags"]).toMatchObject({ "http.status_code": "500", request_id: context().requestId,
      trace_id: context().traceId, "http.method": "GET", "api.endpoint": "/fail" });
    expect(event!["level"]).toBe("error");
  });

  it("a network error carries its context too", async () => {
    const error = new NetworkError(context({ endpoint: "http://127.0.0.1:2/x", attempts: 3 }), { timedOut: false,
      cause: new TypeError("Failed to fetch") });
    captureNetworkError(error);
    await settled();
    const [event] = events();
    expect(event!["contexts"]).toMatchObject({
      api: { endpoint: "http://127.0.0.1:2/x", method: "GET", status_code: null, attempts: 3, timed_out: false },
      trace: { trace_id: context().traceId },
    });
    expect(event!["tags"]).toMatchObject({ "network.timed_out": "false" });
  });

  it("one failure gives one event: the client reports, the uncaught rejection of the same error is dropped", async () => {
    const fetch = vi.fn(async () => new Response('{"detail":"x"}', { status: 500 }));
    const client = new ApiClient({ fetch: fetch as unknown as typeof globalThis.fetch });
    const error = (await client.get("/fail").catch((e: unknown) => e)) as ApiError;
    // Nobody handled it: it reaches the global handler as an unhandled rejection.
    browserReportsRejection(error);
    captureApiError(error); // and a careless second report
    await settled();
    const sent = events();
    expect(sent).toHaveLength(1);
    const traceparent = (fetch.mock.calls[0] as unknown as [string, RequestInit])[1].headers as Record<string, string>;
    expect((sent[0]!["contexts"] as { trace: { trace_id: string } }).trace.trace_id)
      .toBe(parseTraceparent(traceparent["traceparent"]!)!.traceId);
  });

  it("4xx answers are warnings", async () => {
    captureApiError(new ApiError(404, null, context({ endpoint: "/items/404" })));
    await settled();
    expect(events()[0]!["level"]).toBe("warning");
    expect(events()[0]!["fingerprint"]).toEqual(["api-error", "GET", "/items/{id}", "404"]);
  });
});

describe("scrubbing before send", () => {
  it("removes e-mails, tokens, card numbers and passwords from messages, URLs, bodies and breadcrumbs", async () => {
    Sentry.addBreadcrumb({ category: "ui", message: "typed ada@example.com", data: { password: "hunter2" } });
    const error = new ApiError(400, { detail: "bad card 4111 1111 1111 1111 for ada@example.com", token: "secret-token-1" },
      context({ endpoint: "/login?password=hunter2&next=/" }));
    captureApiError(error);
    Sentry.captureException(new Error("failed for bob@example.org with Bearer abcdefghijklmnop1234"));
    await settled();
    const all = posted.map((p) => p.raw).join("\n");
    for (const secret of ["ada@example.com", "bob@example.org", "hunter2", "4111 1111 1111 1111", "secret-token-1",
      "abcdefghijklmnop1234"]) {
      expect(all).not.toContain(secret);
    }
    expect(all).toContain("[REDACTED:email]");
    expect(all).toContain("[REDACTED:card]");
    // the ids needed to look the failure up survive
    expect(all).toContain(context().traceId);
    expect(all).toContain(context().requestId);
  });

  it("removes an e-mail in the endpoint's path from every field, the fingerprint included", async () => {
    captureApiError(new ApiError(404, null, context({ endpoint: "/users/ada@example.com/items" })));
    await settled();
    const [event] = events();
    expect(event!["fingerprint"]).toEqual(["api-error", "GET", "/users/[REDACTED:email]/items", "404"]);
    expect(posted.map((p) => p.raw).join("\n")).not.toContain("ada@example.com");
  });

  it("identifies the user by a pseudonym only", async () => {
    const id = await setUser("ada@example.com");
    expect(id).toBe(await pseudonymousId("Ada@Example.com "));
    expect(id).toMatch(/^u_[0-9a-f]{24}$/);
    Sentry.captureMessage("with a user");
    await settled();
    const [event] = events();
    expect(event!["user"]).toEqual({ id });
    expect(posted.map((p) => p.raw).join("\n")).not.toContain("ada@example.com");
    await setUser(null);
  });
});
