import { describe, expect, it, vi } from "vitest";

import { newRequestId, newSpanId, newTraceId, parseTraceparent, traceparent } from "../../src/lib/trace";

describe("W3C trace context", () => {
  it("makes valid, distinct ids (version 00, lower-case hex, sampled)", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const header = traceparent({ traceId: newTraceId(), spanId: newSpanId() });
      expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(parseTraceparent(header)).not.toBeNull();
      seen.add(header.slice(3, 35));
    }
    expect(seen.size).toBe(500);
  });

  it("never makes the invalid all-zero id, even when the random source gives zeros first", () => {
    let calls = 0;
    vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const bytes = array as unknown as Uint8Array;
      bytes.fill(calls++ === 0 ? 0 : 7);
      return array;
    });
    expect(newTraceId()).toBe("07".repeat(16));
    expect(calls).toBe(2);
  });

  it("refuses malformed and all-zero traceparents", () => {
    expect(parseTraceparent("00-" + "0".repeat(32) + "-00f067aa0ba902b7-01")).toBeNull();
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0".repeat(16) + "-01")).toBeNull();
    expect(parseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")).toBeNull();
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
      .toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" });
  });

  it("request ids are UUID v4", () => {
    expect(newRequestId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
