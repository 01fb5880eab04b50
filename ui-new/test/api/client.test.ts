import { describe, expect, it, vi } from "vitest";

import { ApiClient, ApiError, NetworkError, type Reporter } from "../../src/api/client";
import { parseTraceparent } from "../../src/lib/trace";

type Answer = Response | Error | ((init: RequestInit) => Promise<Response>);

function harness(answers: Answer[]) {
  const calls: Array<{ url: string; init: RequestInit; headers: Record<string, string> }> = [];
  const fetch = vi.fn(async (url: RequestInfo | URL, init: RequestInit = {}) => {
    calls.push({ url: String(url), init, headers: { ...(init.headers as Record<string, string>) } });
    const answer = answers.shift();
    if (answer === undefined) throw new Error("no scripted answer left");
    if (answer instanceof Error) throw answer;
    if (typeof answer === "function") return answer(init);
    return answer;
  });
  const reporter = { apiError: vi.fn<Reporter["apiError"]>(), networkError: vi.fn<Reporter["networkError"]>() };
  const sleeps: number[] = [];
  const client = new ApiClient({
    fetch,
    reporter,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
  });
  return { client, calls, reporter, sleeps };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

describe("ApiClient", () => {
  it("sends a valid traceparent and an X-Request-ID, and returns the data with the request's context", async () => {
    const { client, calls } = harness([json(200, { ok: true }, { "X-Request-ID": "from-server" })]);
    const answer = await client.post<{ ok: boolean }>("/chat/messages", { text: "hi" });

    expect(answer.data).toEqual({ ok: true });
    const [call] = calls;
    const parsed = parseTraceparent(call!.headers["traceparent"]!);
    expect(parsed).not.toBeNull();
    expect(call!.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(call!.headers["X-Request-ID"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(call!.headers["Content-Type"]).toBe("application/json");
    expect(call!.init.body).toBe('{"text":"hi"}');
    expect(answer.context.traceId).toBe(parsed!.traceId);
    expect(answer.context.requestId).toBe("from-server"); // what the server logged
  });

  it("makes a new trace for every call", async () => {
    const { client, calls } = harness([json(200, {}), json(200, {})]);
    await client.get("/a");
    await client.get("/b");
    expect(parseTraceparent(calls[0]!.headers["traceparent"]!)!.traceId)
      .not.toBe(parseTraceparent(calls[1]!.headers["traceparent"]!)!.traceId);
  });

  it("throws an ApiError carrying status, body, request id and trace id, and reports it once", async () => {
    const { client, calls, reporter } = harness([json(500, { detail: "boom" })]);
    const error = await client.get("/fail").catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    const apiError = error as ApiError;
    expect(apiError.status).toBe(500);
    expect(apiError.body).toEqual({ detail: "boom" });
    expect(apiError.context).toMatchObject({ endpoint: "/fail", method: "GET", attempts: 1 });
    expect(apiError.requestId).toBe(calls[0]!.headers["X-Request-ID"]);
    expect(apiError.traceId).toBe(parseTraceparent(calls[0]!.headers["traceparent"]!)!.traceId);
    expect(apiError.context.spanId).toBe(parseTraceparent(calls[0]!.headers["traceparent"]!)!.spanId);
    expect(apiError.message).toBe("GET /fail answered 500: boom");
    expect(reporter.apiError).toHaveBeenCalledTimes(1);
    expect(reporter.apiError).toHaveBeenCalledWith(apiError);
    expect(reporter.networkError).not.toHaveBeenCalled();
    expect(calls).toHaveLength(1); // 500 is not a status worth retrying
  });

  it("throws a NetworkError with its context when nothing answers, after retrying an idempotent call", async () => {
    const refused = () => new TypeError("Failed to fetch");
    const { client, calls, reporter, sleeps } = harness([refused(), refused(), refused()]);
    const error = (await client.get("http://127.0.0.1:2/x").catch((e: unknown) => e)) as NetworkError;

    expect(error).toBeInstanceOf(NetworkError);
    expect(error.timedOut).toBe(false);
    expect(error.context).toMatchObject({ endpoint: "http://127.0.0.1:2/x", method: "GET", attempts: 3 });
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([150, 300]); // 200 then 400 ms ceilings, jitter 0.5
    expect(reporter.networkError).toHaveBeenCalledTimes(1);
    expect(reporter.networkError).toHaveBeenCalledWith(error);
  });

  it("keeps one trace over the retries of a call, with a new span and request id per attempt", async () => {
    const { client, calls } = harness([json(503, {}), json(200, {})]);
    await client.get("/items/1");
    const [first, second] = calls.map((c) => parseTraceparent(c.headers["traceparent"]!)!);
    expect(first!.traceId).toBe(second!.traceId);
    expect(first!.spanId).not.toBe(second!.spanId);
    expect(calls[0]!.headers["X-Request-ID"]).not.toBe(calls[1]!.headers["X-Request-ID"]);
  });

  it.each(["POST", "PATCH"] as const)("never retries %s (not idempotent)", async (method) => {
    const { client, calls, reporter } = harness([json(503, {}), json(200, {})]);
    await expect(client.request("/chat/messages", { method, body: {} })).rejects.toBeInstanceOf(ApiError);
    expect(calls).toHaveLength(1);
    expect(reporter.apiError).toHaveBeenCalledTimes(1);
  });

  it("does not retry a POST whose connection failed either", async () => {
    const { client, calls } = harness([new TypeError("Failed to fetch"), json(200, {})]);
    await expect(client.post("/images/generate", {})).rejects.toBeInstanceOf(NetworkError);
    expect(calls).toHaveLength(1);
  });

  it.each(["GET", "PUT", "DELETE", "HEAD", "OPTIONS"] as const)("retries %s on 502/503/504/429", async (method) => {
    const { client, calls } = harness([json(502, {}), json(503, {}), json(504, {}), json(429, {}, { "Retry-After": "1" }),
      new Response(null, { status: 204 })]);
    const answer = await client.request("/x", { method, retries: 4 });
    expect(answer.status).toBe(204);
    expect(answer.data).toBeNull();
    expect(calls).toHaveLength(5);
  });

  it("honours Retry-After, capped", async () => {
    const { client, sleeps } = harness([json(429, {}, { "Retry-After": "2" }), json(503, {}, { "Retry-After": "600" }), json(200, {})]);
    await client.get("/x");
    expect(sleeps).toEqual([2000, 5000]);
  });

  it("does not retry 4xx answers other than 408/425/429", async () => {
    const { client, calls } = harness([json(404, { detail: "item not found" })]);
    await expect(client.get("/items/404")).rejects.toMatchObject({ status: 404 });
    expect(calls).toHaveLength(1);
  });

  it("gives up after the timeout with a NetworkError marked timedOut", async () => {
    const hang = (init: RequestInit) => new Promise<Response>((_resolve, reject) => {
      init.signal!.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
    const { client, reporter } = harness([hang]);
    const error = await client.request("/slow", { method: "POST", body: {}, timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).timedOut).toBe(true);
    expect(reporter.networkError).toHaveBeenCalledTimes(1);
  });

  it("times out a server that sends its headers and then stalls the body", async () => {
    // Like fetch: the promise resolves with the headers; aborting the signal errors the body stream.
    const stall = async (init: RequestInit) => new Response(new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new TextEncoder().encode('{"partial": '));
        init.signal!.addEventListener("abort", () => stream.error(init.signal!.reason));
      },
    }), { status: 200, headers: { "Content-Type": "application/json" } });
    const { client, reporter } = harness([stall]);
    const error = await client.request("/slow-body", { method: "POST", body: {}, timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).timedOut).toBe(true);
    expect(reporter.networkError).toHaveBeenCalledTimes(1);
  });

  it("throws a body that cannot be serialised at once: not a network error, not retried, nothing sent", async () => {
    const { client, calls, reporter, sleeps } = harness([json(200, {}), json(200, {}), json(200, {})]);
    const circular: Record<string, unknown> = {};
    circular["self"] = circular;
    const error = await client.request("/items/1", { method: "PUT", body: circular }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(calls).toHaveLength(0);
    expect(sleeps).toEqual([]);
    expect(reporter.networkError).not.toHaveBeenCalled();
  });

  it("does not report a call the caller cancelled", async () => {
    const hang = (init: RequestInit) => new Promise<Response>((_resolve, reject) => {
      init.signal!.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
    const { client, reporter } = harness([hang]);
    const controller = new AbortController();
    const pending = client.get("/slow", { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeDefined();
    expect(reporter.networkError).not.toHaveBeenCalled();
    expect(reporter.apiError).not.toHaveBeenCalled();
  });

  it("sends the trace headers to its own origin and listed origins only", async () => {
    const { client, calls } = harness([json(200, {}), json(200, {})]);
    await client.get("https://third-party.example/api");
    await client.get("/same-origin");
    expect(calls[0]!.headers["traceparent"]).toBeUndefined();
    expect(calls[0]!.headers["X-Request-ID"]).toBeUndefined();
    expect(calls[1]!.headers["traceparent"]).toBeDefined();
  });

  it("tells its observers about every call", async () => {
    const { client } = harness([json(200, {}), json(500, {})]);
    const seen: Array<number | null> = [];
    client.onCall((record) => seen.push(record.status));
    await client.get("/a");
    await client.get("/b").catch(() => undefined);
    expect(seen).toEqual([200, 500]);
  });
});
