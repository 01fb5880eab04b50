/**
 * W3C Trace Context ids for outgoing requests (https://www.w3.org/TR/trace-context/#traceparent-header).
 *
 * trace-id: 16 random bytes, span-id (parent-id): 8 random bytes, both lower-case hex and never all zeros;
 * version 00; flags 01 (sampled) so the backend's parent-based sampler keeps the server span the browser names.
 */

export interface TraceContext {
  traceId: string;
  spanId: string;
}

function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes);
  for (;;) {
    crypto.getRandomValues(buffer);
    if (buffer.some((b) => b !== 0)) break; // all zeros is the invalid id
  }
  let out = "";
  for (const b of buffer) out += b.toString(16).padStart(2, "0");
  return out;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

export function newTraceContext(traceId: string = newTraceId()): TraceContext {
  return { traceId, spanId: newSpanId() };
}

export function traceparent({ traceId, spanId }: TraceContext, sampled = true): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The ids of a valid version-00 `traceparent`, or null. */
export function parseTraceparent(header: string): TraceContext | null {
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return null;
  const [, traceId = "", spanId = ""] = match;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return { traceId, spanId };
}

/** A request id (UUID v4): kept by the backend as a sane `X-Request-ID` without a scrubber scan. */
export function newRequestId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
