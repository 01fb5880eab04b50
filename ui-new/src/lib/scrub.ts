/**
 * Client-side scrubbing of personal data and secrets, shared by error tracking (Sentry `beforeSend`) and analytics.
 *
 * The same idea as the backend's engine (`otel_distro.scrubbing`), sized for the browser: only the sensitive part
 * of a string is replaced, with `[REDACTED:kind]`; a value whose key names a secret is replaced whole; trace,
 * span, event and request ids are kept so a failure can still be looked up.
 */

export type RedactionKind = "email" | "card" | "jwt" | "bearer" | "token" | "password" | "secret" | "personal";

interface Rule {
  kind: RedactionKind;
  pattern: RegExp;
  /** Replace only this capture group (1-based) instead of the whole match. */
  group?: number;
  /** A second check on the match (e.g. Luhn for card numbers). */
  accept?: (match: string) => boolean;
}

/** Words that make a key a secret's (`password`, `api_key`, `refreshToken`, `X-Auth-Token`, ...). */
const SECRET_WORDS = /(^|_)(password|passwd|passphrase|pwd|secret|token|api_?key|apikey|authorization|cookie|set_cookie|cvv|cvc|ssn|private_key|access_key|card_number|credit_card|pan)(_|$)/;

/**
 * Keys that name personal data, qualified or not (`email`, `customer_email`, `billingAddress`): replaced whole in
 * analytics properties and error events.
 */
const PERSONAL_WORDS = /(^|_)(e_?mail|email_address|phone|phone_number|mobile|username|user_name|full_name|first_name|last_name|address|street|ip|ip_address)(_|$)/;

/** `refreshToken`, `X-Auth-Token`, `api-key` -> `refresh_token`, `x_auth_token`, `api_key`. */
function normaliseKey(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[-.\s]+/g, "_").toLowerCase();
}

/** Identifiers that must survive scrubbing (a card-like digit run inside one is not a card). */
const KEPT_KEYS = new Set([
  "event_id", "trace_id", "span_id", "parent_span_id", "request_id", "requestId", "traceId", "spanId",
  "session_id", "sessionId", "id", "timestamp", "start_timestamp",
]);

/** What an id or a timestamp looks like; anything else under a kept key (an e-mail used as an id) is scrubbed. */
const ID_SHAPE = /^[A-Za-z0-9._:+-]{1,128}$/;

// The query-string / form parameters that carry secrets: `?token=...&password=...`.
const SECRET_PARAM = "(?:pass(?:word|wd)?|pwd|secret|token|access_token|refresh_token|id_token|api_?key|apikey|auth|code|session|sig|signature|key)";

const RULES: readonly Rule[] = [
  // user:password@ in URLs
  { kind: "password", pattern: /(?<=[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)([^\s/@]+)(?=@)/gi, group: 1 },
  // ?password=... &token=... (query strings, form bodies)
  { kind: "secret", pattern: new RegExp(`(?<=[?&;]${SECRET_PARAM}=)([^&#\\s"']+)`, "gi"), group: 1 },
  // "password": "..." / password: ... / password=... inside free text or serialised JSON
  {
    kind: "password",
    // (whitespace bounded: an unbounded \s* inside a lookbehind rescans a long blank run at every position)
    pattern: /(?<=["']?(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key)["']?\s{0,16}[:=]\s{0,16}["']?)(?!\[REDACTED:)([^"'\s,&}]+)/gi,
    group: 1,
  },
  { kind: "jwt", pattern: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g },
  { kind: "bearer", pattern: /(?<=\b(?:Bearer|Basic|Token)\s{1,16})([A-Za-z0-9._~+/=-]{8,})/gi, group: 1 },
  // Well-known token shapes: GitHub, Slack, Stripe, AWS access keys, Google API keys, OpenAI.
  {
    kind: "token",
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|sk-[A-Za-z0-9_-]{20,})\b/g,
  },
  // Starts only where a run of local-part characters starts: from every position of a long run it is quadratic.
  // `%40` is the @ of a URL-encoded address (`?email=ada%40example.com`).
  { kind: "email", pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g },
  // 13-19 digits, optionally grouped by spaces or dashes, not part of a longer alphanumeric run, Luhn-valid.
  { kind: "card", pattern: /(?<![A-Za-z0-9])(?:\d[ -]?){12,18}\d(?![A-Za-z0-9])/g, accept: luhnValid },
];

export function luhnValid(text: string): boolean {
  const digits = text.replace(/[ -]/g, "");
  if (digits.length < 13 || digits.length > 19 || /^(\d)\1+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

const marker = (kind: RedactionKind): string => `[REDACTED:${kind}]`;

/** The text with every e-mail, card number, token and password replaced by `[REDACTED:kind]`. */
export function scrubText(text: string): string {
  let out = text;
  for (const rule of RULES) {
    out = out.replace(rule.pattern, (match: string, ...rest: unknown[]) => {
      const part = rule.group !== undefined ? String(rest[rule.group - 1] ?? match) : match;
      if (rule.accept && !rule.accept(part)) return match;
      return rule.group !== undefined ? match.replace(part, marker(rule.kind)) : marker(rule.kind);
    });
  }
  return out;
}

export function isSecretKey(key: string): boolean {
  return SECRET_WORDS.test(normaliseKey(key));
}

export function isPersonalKey(key: string): boolean {
  return PERSONAL_WORDS.test(normaliseKey(key));
}

/**
 * A deep copy of `value` with secrets replaced: values under secret keys (and personal keys, e.g. `email`)
 * whole, strings elsewhere by `scrubText`. Ids under `KEPT_KEYS` are kept as they are. Cycles are cut.
 */
export function scrubValue<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  return scrubInner(value, undefined, seen) as T;
}

function scrubInner(value: unknown, key: string | undefined, seen: WeakSet<object>): unknown {
  if (key !== undefined && KEPT_KEYS.has(key) && typeof value === "string" && ID_SHAPE.test(value)) return value;
  if (key !== undefined && (isSecretKey(key) || isPersonalKey(key)) && value !== null && value !== undefined) {
    if (typeof value === "string" || typeof value === "number") return marker(isSecretKey(key) ? "secret" : "personal");
    if (typeof value === "object") return marker("secret");
  }
  if (typeof value === "string") return scrubText(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => scrubInner(item, undefined, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = scrubInner(v, k, seen);
  return out;
}
