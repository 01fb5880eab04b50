import { afterEach, describe, expect, it, vi } from "vitest";

import { Analytics, cleanProperties, type AnalyticsEvent } from "../../src/lib/analytics";

type Answer = Response | Error;

/** jsdom's Blob has no text(); FileReader reads it. */
function readBlob(blob: Blob): Promise<string> {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.readAsText(blob);
  });
}

function harness(answers: Answer[] = [], options: ConstructorParameters<typeof Analytics>[0] = {}) {
  const bodies: Array<{ events: AnalyticsEvent[] }> = [];
  const headers: Array<Record<string, string>> = [];
  const fetch = vi.fn(async (_url: RequestInfo | URL, init: RequestInit = {}) => {
    bodies.push(JSON.parse(String(init.body)) as { events: AnalyticsEvent[] });
    headers.push(init.headers as Record<string, string>);
    const answer = answers.shift() ?? accepted();
    if (answer instanceof Error) throw answer;
    return answer;
  });
  const beacons: Array<{ url: string; events: AnalyticsEvent[] }> = [];
  const beaconAnswers: boolean[] = [];
  const sendBeacon = vi.fn((url: string, data: Blob) => {
    const ok = beaconAnswers.shift() ?? true;
    if (ok) void readBlob(data).then((t) => beacons.push({ url, events: (JSON.parse(t) as { events: AnalyticsEvent[] }).events }));
    return ok;
  });
  const analytics = new Analytics({ fetch, sendBeacon, flushIntervalMs: 0, autoFlushOnExit: true, ...options });
  created.push(analytics);
  return { analytics, fetch, bodies, headers, sendBeacon, beacons, beaconAnswers };
}

const created: Analytics[] = [];
afterEach(() => {
  for (const a of created.splice(0)) a.close();
});

function accepted(n = 0): Response {
  return new Response(JSON.stringify({ accepted: n, results: [] }), { status: 202 });
}

describe("Analytics", () => {
  it("sends the typed events in the backend's format", async () => {
    const { analytics, bodies, headers } = harness([], { endpoint: "/analytics/events" });
    analytics.identify("u_0123456789abcdef01234567");
    analytics.trackLogin({ method: "password", success: true });
    analytics.trackChatMessageSent({ message_length: 12 });
    analytics.trackImageGenerated({ prompt_length: 20, width: 512, height: 512, duration_ms: 31 });
    await analytics.flush();

    expect(bodies).toHaveLength(1);
    const events = bodies[0]!.events;
    expect(events.map((e) => e.name)).toEqual(["login", "chat_message_sent", "image_generated"]);
    expect(events[0]!.properties).toEqual({ method: "password", success: true });
    expect(events[1]!.properties).toEqual({ message_length: 12 });
    expect(events[2]!.properties).toEqual({ prompt_length: 20, width: 512, height: 512, duration_ms: 31 });
    for (const event of events) {
      expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Date(event.timestamp).toISOString()).toBe(event.timestamp);
      expect(event.session_id).toBe(events[0]!.session_id);
      expect(event.user_id).toBe("u_0123456789abcdef01234567");
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
    expect(headers[0]!["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("batches: at most maxBatch events per request, and sends as soon as a batch is full", async () => {
    const { analytics, bodies } = harness([], { maxBatch: 3 });
    for (let i = 0; i < 7; i++) analytics.track("custom_event", { i });
    await analytics.flush();
    expect(bodies.map((b) => b.events.length)).toEqual([3, 3, 1]);
    expect(bodies.flatMap((b) => b.events.map((e) => e.properties["i"]))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("keeps a batch whose send failed, in order, and sends it with the next flush", async () => {
    const { analytics, bodies } = harness([new TypeError("Failed to fetch"), new Response("", { status: 503 })]);
    analytics.track("a_event");
    analytics.track("b_event");
    await analytics.flush(); // network error
    expect(analytics.pending().map((e) => e.name)).toEqual(["a_event", "b_event"]);
    analytics.track("c_event");
    await analytics.flush(); // 503
    expect(analytics.pending().map((e) => e.name)).toEqual(["a_event", "b_event", "c_event"]);
    await analytics.flush(); // 202
    expect(analytics.pending()).toEqual([]);
    expect(bodies).toHaveLength(3);
    expect(bodies[2]!.events.map((e) => e.name)).toEqual(["a_event", "b_event", "c_event"]);
    expect(bodies[0]!.events[0]!.id).toBe(bodies[2]!.events[0]!.id); // same ids: the backend dedupes a resend
    expect(analytics.stats).toMatchObject({ failedSends: 2, sent: 3, dropped: 0 });
  });

  it("waits as long as a 429's Retry-After says", async () => {
    const { analytics, bodies } = harness([new Response("", { status: 429, headers: { "Retry-After": "30" } })]);
    analytics.track("a_event");
    await analytics.flush();
    await analytics.flush();
    expect(bodies).toHaveLength(1);
    expect(analytics.pending()).toHaveLength(1);
  });

  it("bounds the queue: beyond maxQueue the oldest events are dropped and counted", async () => {
    const { analytics } = harness([new TypeError("offline"), new TypeError("offline")], { maxBatch: 2, maxQueue: 5 });
    for (let i = 0; i < 9; i++) analytics.track("custom_event", { i });
    await analytics.flush();
    const kept = analytics.pending().map((e) => e.properties["i"]);
    expect(kept).toHaveLength(5);
    expect(kept).toEqual([4, 5, 6, 7, 8]);
    expect(analytics.stats.dropped).toBe(4);
  });

  it("counts and names the events the backend rejected one by one", async () => {
    const answer = new Response(JSON.stringify({ accepted: 1, results: [
      { index: 0, status: "accepted" }, { index: 1, status: "rejected", error: "properties.message_length: required" }] }),
    { status: 202 });
    const { analytics } = harness([answer]);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    analytics.track("a_event");
    analytics.track("chat_message_sent", { text_length: 3 });
    await analytics.flush();
    expect(analytics.stats).toMatchObject({ sent: 1, rejected: 1 });
    expect(warn).toHaveBeenCalledWith("analytics: event chat_message_sent rejected: properties.message_length: required");
  });

  it("drops a batch the backend refuses for good (400/413/422) instead of resending it forever", async () => {
    const { analytics, bodies } = harness([new Response('{"error":"events[0].name"}', { status: 422 })]);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    analytics.track("a_event");
    await analytics.flush();
    await analytics.flush();
    expect(bodies).toHaveLength(1);
    expect(analytics.stats.rejected).toBe(1);
    expect(warn).toHaveBeenCalledOnce();
  });

  it("hands the queue to sendBeacon when the page is hidden, and on pagehide", async () => {
    const { analytics, beacons, fetch } = harness([], { endpoint: "/analytics/events" });
    analytics.track("a_event");
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
    Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
    analytics.track("b_event");
    window.dispatchEvent(new Event("pagehide"));
    await vi.waitFor(() => expect(beacons).toHaveLength(2));
    expect(beacons.map((b) => [b.url, b.events.map((e) => e.name)])).toEqual([
      ["/analytics/events", ["a_event"]],
      ["/analytics/events", ["b_event"]],
    ]);
    expect(fetch).not.toHaveBeenCalled();
    expect(analytics.pending()).toEqual([]);
  });

  it("keeps the events a beacon refused", () => {
    const { analytics, beaconAnswers } = harness();
    beaconAnswers.push(false);
    analytics.track("a_event");
    analytics.flushOnExit();
    expect(analytics.pending().map((e) => e.name)).toEqual(["a_event"]);
  });

  it("keeps each beacon under the size limit", async () => {
    const { analytics, beacons } = harness([], { maxBytes: 2000 });
    for (let i = 0; i < 30; i++) analytics.track("custom_event", { text: "x".repeat(200) });
    analytics.flushOnExit();
    await vi.waitFor(() => expect(beacons.flatMap((b) => b.events)).toHaveLength(30));
    for (const beacon of beacons) expect(JSON.stringify({ events: beacon.events }).length).toBeLessThanOrEqual(2000);
  });

  it("drops a badly named event with a warning and never throws", () => {
    const { analytics } = harness();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    expect(() => analytics.track("Bad Name!")).not.toThrow();
    expect(analytics.pending()).toEqual([]);
    expect(warn.mock.calls[0]![0]).toContain("snake_case");
  });

  it("sends the batch on its timer", async () => {
    vi.useFakeTimers();
    try {
      const { analytics, bodies } = harness([], { flushIntervalMs: 1000 });
      analytics.track("a_event");
      expect(bodies).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1000);
      expect(bodies).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("cleanProperties", () => {
  it("keeps no personal data or secrets", () => {
    expect(cleanProperties({
      email: "ada@example.com",
      username: "ada",
      password: "hunter2",
      token: "abc",
      note: "from ada@example.com with card 4111 1111 1111 1111",
      length: 12,
      ok: true,
      missing: null,
      nested: { a: 1 },
      fn: () => 1,
      nan: Number.NaN,
    })).toEqual({
      note: "from [REDACTED:email] with card [REDACTED:card]",
      length: 12,
      ok: true,
      missing: null,
      nan: null,
    });
  });

  it("cuts long strings and keeps at most 50 properties", () => {
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`p${i}`, "y".repeat(10)]));
    const cleaned = cleanProperties(many);
    expect(Object.keys(cleaned)).toHaveLength(50);
    expect((cleanProperties({ long: "y".repeat(1000) })["long"] as string).length).toBe(500);
  });

  // The backend (otel_distro/analytics/_validate.py) rejects the whole event for properties over 8 KB of JSON or
  // a key outside [A-Za-z_][A-Za-z0-9_.-]{0,63}: cleaning must give what it accepts, or the event is lost.
  it("keeps what the backend accepts: at most 8 KB of JSON and its key syntax", () => {
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`p${i}`, "é".repeat(1000)]));
    const cleaned = cleanProperties(many);
    expect(new TextEncoder().encode(JSON.stringify(cleaned)).length).toBeLessThanOrEqual(8 * 1024);
    expect(Object.keys(cleaned).length).toBeGreaterThan(0);
    expect(cleanProperties({ "has space": 1, "9lives": 2, ["k".repeat(65)]: 3, "page.path": 4, _ok: 5 }))
      .toEqual({ "page.path": 4, _ok: 5 });
  });
});
