import * as Sentry from "@sentry/browser";
import { describe, expect, it, vi } from "vitest";

import { ApiError, NetworkError, type RequestContext } from "../../src/api/errors";
import {
  captureApiError,
  captureNetworkError,
  flushErrorTracking,
  initErrorTracking,
  isErrorTrackingEnabled,
  setUser,
} from "../../src/lib/errorTracking";

const context: RequestContext = {
  endpoint: "/fail", method: "GET", requestId: "r-1", traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7", attempts: 1,
};

describe("without a DSN", () => {
  it("error tracking is off, every call is a no-op, nothing is sent", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    const on = initErrorTracking({ dsn: null, environment: "prod", release: null, tracesSampleRate: 0, sampleRate: 1,
      tunnel: "/monitoring/tunnel" });

    expect(on).toBe(false);
    expect(isErrorTrackingEnabled()).toBe(false);
    expect(Sentry.isInitialized()).toBe(false);
    expect(captureApiError(new ApiError(500, null, context))).toBe("");
    expect(captureNetworkError(new NetworkError(context, { timedOut: true, cause: null }))).toBe("");
    expect(await setUser("ada@example.com")).toMatch(/^u_[0-9a-f]{24}$/); // analytics still gets the pseudonym
    expect(await flushErrorTracking()).toBe(true);
    expect(fetch).not.toHaveBeenCalled();
    vi.unstubAllGlobals();
  });
});
