/**
 * Product analytics: typed events, batched to the backend's `POST /analytics/events`.
 *
 * - Events wait in a bounded queue (oldest dropped first when full, counted in `stats.dropped`); a batch is sent
 *   when `maxBatch` events are waiting or every `flushIntervalMs`, and put back at the front of the queue when the
 *   send fails (network error, 429, 5xx) so nothing queued is lost to a failed send.
 * - When the page is hidden or goes away (`visibilitychange` -> hidden, `pagehide`) the queue is handed to
 *   `navigator.sendBeacon`, in chunks under the beacon's 64 KB limit.
 * - Every event has a client id (a UUID): the backend makes retries idempotent with it.
 * - No personal data leaves the browser: properties under personal or secret keys are dropped, strings are
 *   scrubbed, and `user_id` is a pseudonym.
 */

import { isPersonalKey, isSecretKey, scrubText } from "./scrub";
import { newRequestId, newSpanId, newTraceId, traceparent } from "./trace";

export type PropertyValue = string | number | boolean | null;
export type Properties = Record<string, PropertyValue>;

/**
 * The three events the product asks for, with the properties the backend's schema knows for them
 * (otel_distro/analytics/_schemas.py): lengths and flags, never the text, the prompt or a credential.
 */
export interface EventMap {
  login: { success: boolean; method?: "password" | "oauth" | "sso"; failure_reason?: string };
  chat_message_sent: { message_length: number; conversation_id?: string; has_attachments?: boolean };
  image_generated: {
    prompt_length: number;
    width?: number;
    height?: number;
    style?: string;
    duration_ms?: number;
    success?: boolean;
  };
}

export interface AnalyticsEvent {
  id: string;
  name: string;
  properties: Properties;
  timestamp: string;
  session_id: string;
  user_id?: string;
}

export interface AnalyticsOptions {
  endpoint?: string;
  /** At most this many events per request (the backend's limit is 100). */
  maxBatch?: number;
  /** Events kept while sends fail; beyond it the oldest are dropped. */
  maxQueue?: number;
  flushIntervalMs?: number;
  /** Bytes per request body (the backend's limit and the beacon's are 64 KB). */
  maxBytes?: number;
  fetch?: typeof fetch;
  sendBeacon?: (url: string, data: Blob) => boolean;
  /** Listen to `visibilitychange` / `pagehide` (off in tests that drive `flushOnExit` themselves). */
  autoFlushOnExit?: boolean;
  now?: () => Date;
}

export interface AnalyticsStats {
  queued: number;
  sent: number;
  rejected: number;
  dropped: number;
  failedSends: number;
}

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_PROPERTIES = 50;
const MAX_STRING = 500;
// The backend's limits (otel_distro/analytics/_validate.py): beyond them it rejects the whole event.
const MAX_PROPERTIES_BYTES = 8 * 1024;
const PROPERTY_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export class Analytics {
  private readonly endpoint: string;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private readonly maxBytes: number;
  private readonly fetchImpl: typeof fetch;
  private readonly beacon: ((url: string, data: Blob) => boolean) | undefined;
  private readonly now: () => Date;
  private readonly queue: AnalyticsEvent[] = [];
  private readonly sessionId = newRequestId();
  private userId: string | undefined;
  private sending: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private pausedUntil = 0;
  private readonly removers: Array<() => void> = [];
  readonly stats: AnalyticsStats = { queued: 0, sent: 0, rejected: 0, dropped: 0, failedSends: 0 };

  constructor(options: AnalyticsOptions = {}) {
    this.endpoint = options.endpoint ?? "/analytics/events";
    this.maxBatch = Math.max(1, Math.min(options.maxBatch ?? 100, 100));
    this.maxQueue = Math.max(this.maxBatch, options.maxQueue ?? 1000);
    this.maxBytes = options.maxBytes ?? 60_000;
    this.fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.beacon = options.sendBeacon ??
      (typeof navigator !== "undefined" && typeof navigator.sendBeacon === "function"
        ? (url, data) => navigator.sendBeacon(url, data)
        : undefined);
    this.now = options.now ?? (() => new Date());
    const interval = options.flushIntervalMs ?? 5000;
    if (interval > 0) this.timer = setInterval(() => void this.flush(), interval);
    if (options.autoFlushOnExit ?? true) this.listenForExit();
  }

  /** The pseudonymous user id to attach to later events (`errorTracking.pseudonymousId`), or undefined. */
  identify(pseudonymousUserId: string | undefined): void {
    this.userId = pseudonymousUserId;
  }

  trackLogin(properties: EventMap["login"]): void {
    this.track("login", properties);
  }

  trackChatMessageSent(properties: EventMap["chat_message_sent"]): void {
    this.track("chat_message_sent", properties);
  }

  trackImageGenerated(properties: EventMap["image_generated"]): void {
    this.track("image_generated", properties);
  }

  /** Any snake_case event. A bad name is dropped with a console warning (analytics never breaks the app). */
  track<K extends keyof EventMap>(name: K, properties: EventMap[K]): void;
  track(name: string, properties?: Record<string, unknown>): void;
  track(name: string, properties: Record<string, unknown> = {}): void {
    if (!NAME.test(name)) {
      console.warn(`analytics: event name ${JSON.stringify(name)} dropped: expected snake_case like chat_message_sent`);
      this.stats.dropped++;
      return;
    }
    const event: AnalyticsEvent = {
      id: newRequestId(),
      name,
      properties: cleanProperties(properties),
      timestamp: this.now().toISOString(),
      session_id: this.sessionId,
      ...(this.userId ? { user_id: this.userId } : {}),
    };
    this.enqueue([event], false);
    if (this.queue.length >= this.maxBatch) void this.flush();
  }

  /** Events waiting to be sent (a copy). */
  pending(): AnalyticsEvent[] {
    return [...this.queue];
  }

  /** Send everything queued, batch by batch; resolves when done or when a send failed (the rest stays queued). */
  flush(): Promise<void> {
    if (this.sending) return this.sending;
    this.sending = this.drain().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  /** Hand the queue to `sendBeacon` (page hidden or closing). Events a beacon refuses stay queued. */
  flushOnExit(): void {
    if (!this.beacon) {
      void this.flush();
      return;
    }
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      // text/plain is CORS-safelisted: a beacon to another origin needs no preflight (which beacons cannot make).
      // The backend reads any content type as JSON.
      const blob = new Blob([JSON.stringify({ events: batch })], { type: "text/plain;charset=UTF-8" });
      if (!this.beacon(this.endpoint, blob)) {
        this.enqueue(batch, true);
        return;
      }
      this.stats.sent += batch.length;
    }
  }

  /** Stop the timer and the page listeners (tests, hot reload). */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const remove of this.removers.splice(0)) remove();
  }

  // -- internals ----------------------------------------------------------------------------------------------

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && Date.now() >= this.pausedUntil) {
      const batch = this.takeBatch();
      const outcome = await this.send(batch);
      if (outcome === "retry") {
        this.stats.failedSends++;
        this.enqueue(batch, true);
        return;
      }
    }
  }

  private async send(batch: AnalyticsEvent[]): Promise<"done" | "retry"> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.endpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          traceparent: traceparent({ traceId: newTraceId(), spanId: newSpanId() }),
          "X-Request-ID": newRequestId(),
        },
        body: JSON.stringify({ events: batch }),
        keepalive: true,
      });
    } catch {
      return "retry";
    }
    if (response.status === 429 || response.status >= 500) {
      const retryAfter = Number(response.headers.get("Retry-After"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) this.pausedUntil = Date.now() + retryAfter * 1000;
      return "retry";
    }
    if (response.ok) {
      type Result = { index?: number; status?: string; error?: string };
      const body = (await response.json().catch(() => null)) as { results?: Result[] } | null;
      const rejected = body?.results?.filter((r) => r.status === "rejected") ?? [];
      for (const result of rejected.slice(0, 3)) {
        const event = batch[result.index ?? -1];
        console.warn(`analytics: event ${event?.name ?? "?"} rejected: ${result.error ?? "no reason given"}`);
      }
      this.stats.sent += batch.length - rejected.length;
      this.stats.rejected += rejected.length;
      return "done";
    }
    // 400/413/422: the backend will never take this batch as it is; sending it again would loop forever.
    console.warn(`analytics: a batch of ${batch.length} events was refused with ${response.status}`);
    this.stats.rejected += batch.length;
    return "done";
  }

  /** The next batch: up to `maxBatch` events and `maxBytes` of JSON (at least one event). */
  private takeBatch(): AnalyticsEvent[] {
    const batch: AnalyticsEvent[] = [];
    let bytes = 12; // {"events":[]}
    while (batch.length < this.maxBatch && this.queue.length > 0) {
      const size = new TextEncoder().encode(JSON.stringify(this.queue[0])).length + 1;
      if (batch.length > 0 && bytes + size > this.maxBytes) break;
      batch.push(this.queue.shift() as AnalyticsEvent);
      bytes += size;
    }
    return batch;
  }

  /** Add events (at the front when they come back from a failed send), dropping the oldest beyond `maxQueue`. */
  private enqueue(events: AnalyticsEvent[], front: boolean): void {
    if (front) this.queue.unshift(...events);
    else this.queue.push(...events);
    const excess = this.queue.length - this.maxQueue;
    if (excess > 0) {
      this.queue.splice(0, excess);
      this.stats.dropped += excess;
    }
    this.stats.queued = this.queue.length;
  }

  private listenForExit(): void {
    if (typeof document === "undefined" || typeof window === "undefined") return;
    const onVisibility = (): void => {
      if (document.visibilityState === "hidden") this.flushOnExit();
    };
    const onPageHide = (): void => this.flushOnExit();
    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("pagehide", onPageHide);
    this.removers.push(
      () => document.removeEventListener("visibilitychange", onVisibility),
      () => window.removeEventListener("pagehide", onPageHide),
    );
  }
}

/**
 * Properties safe to send: flat JSON values only, at most 50, strings scrubbed and cut to 500 characters, and
 * nothing under a key that names personal data or a secret (`email`, `username`, `password`, `token`, ...); only
 * what the backend accepts: keys of its syntax, at most 8 KB of JSON (a property that would go over is left out).
 */
export function cleanProperties(properties: Record<string, unknown>): Properties {
  const out: Properties = {};
  let count = 0;
  let bytes = 2; // {}
  for (const [key, value] of Object.entries(properties)) {
    if (count >= MAX_PROPERTIES) break;
    if (!PROPERTY_KEY.test(key) || isSecretKey(key) || isPersonalKey(key)) continue;
    let clean: PropertyValue;
    if (typeof value === "string") clean = scrubText(value).slice(0, MAX_STRING);
    else if (typeof value === "number") clean = Number.isFinite(value) ? value : null;
    else if (typeof value === "boolean" || value === null) clean = value;
    else continue; // nested objects, functions, undefined: not part of the event schema
    const size = utf8Length(JSON.stringify(key)) + utf8Length(JSON.stringify(clean)) + 2; // "key":value,
    if (bytes + size > MAX_PROPERTIES_BYTES) continue; // would make the backend reject the whole event
    out[key] = clean;
    bytes += size;
    count++;
  }
  return out;
}

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;
