import { describe, expect, it, vi } from "vitest";

import { loadMonitoringConfig, parseMonitoringConfig } from "../../src/lib/runtimeConfig";

const DSN = "http://0123456789abcdef@sentry.invalid/4242";

describe("runtime config", () => {
  it("reads GET /monitoring/config", async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({
      sentry: { dsn: DSN, environment: "prod", release: "1.2.3", tracesSampleRate: 0.1, sampleRate: 1, tunnel: "/monitoring/tunnel" },
      analytics: { endpoint: "/analytics/events", maxBatch: 100 },
    })));
    const config = await loadMonitoringConfig("/monitoring/config", fetch as unknown as typeof globalThis.fetch);
    expect(config.sentry).toEqual({ dsn: DSN, environment: "prod", release: "1.2.3", tracesSampleRate: 0.1, sampleRate: 1,
      tunnel: "/monitoring/tunnel" });
    expect(fetch).toHaveBeenCalledWith("/monitoring/config", expect.anything());
  });

  it("turns error tracking off when the config cannot be read or has no DSN", async () => {
    const failing = vi.fn(async () => { throw new TypeError("offline"); });
    expect((await loadMonitoringConfig("/x", failing as unknown as typeof fetch)).sentry.dsn).toBeNull();
    expect(parseMonitoringConfig({ sentry: { dsn: null } }).sentry.dsn).toBeNull();
    expect(parseMonitoringConfig({ sentry: { sampleRate: 7 } }).sentry.sampleRate).toBe(1);
    expect(parseMonitoringConfig("garbage").analytics).toEqual({ endpoint: "/analytics/events", maxBatch: 100 });
  });
});
