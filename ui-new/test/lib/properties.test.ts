/**
 * Invariants, checked over generated inputs (fast-check):
 * - whatever surrounds them, e-mails and Luhn-valid card numbers never survive scrubbing, and property cleaning
 *   never lets a personal or secret key through;
 * - analytics never holds more than `maxQueue` events and never loses one silently: every tracked event is sent,
 *   still queued, or counted as dropped, whatever the sequence of failed and successful sends.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { Analytics, cleanProperties } from "../../src/lib/analytics";
import { luhnValid, scrubText } from "../../src/lib/scrub";

const word = fc.stringMatching(/^[a-z][a-z0-9]{0,11}$/);
const email = fc.tuple(word, word, fc.constantFrom("com", "org", "io", "co.uk")).map(([u, d, t]) => `${u}@${d}.${t}`);
const filler = fc.stringMatching(/^[ a-zA-Z,.:;()!?-]{0,30}$/);

/** A Luhn-valid card number of 13-19 digits, optionally grouped by 4 with spaces or dashes. */
const card = fc.tuple(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 12, maxLength: 18 }), fc.constantFrom("", " ", "-"))
  .map(([digits, sep]) => {
    const body = [4, ...digits.slice(1)];
    for (let check = 0; check < 10; check++) {
      const candidate = [...body, check].join("");
      if (luhnValid(candidate)) return candidate.replace(/(\d{4})(?=\d)/g, `$1${sep}`);
    }
    throw new Error("unreachable: one check digit always fits");
  });

describe("scrubbing invariants", () => {
  it("no e-mail or card number survives, wherever it sits in the text", () => {
    fc.assert(fc.property(filler, email, filler, card, filler, (a, mail, b, pan, c) => {
      const out = scrubText(`${a} ${mail} ${b} ${pan} ${c}`);
      expect(out).not.toContain(mail);
      expect(out).not.toContain(pan);
      expect(out).toContain("[REDACTED:email]");
      expect(out).toContain("[REDACTED:card]");
    }), { numRuns: 300 });
  });

  it("cleaned properties never carry a personal or secret key, nor an e-mail in a value", () => {
    const key = fc.constantFrom("email", "password", "token", "username", "apiKey", "phone", "length", "success", "label");
    fc.assert(fc.property(fc.dictionary(key, fc.oneof(email, fc.integer(), fc.boolean())), (props) => {
      const out = cleanProperties(props);
      for (const k of ["email", "password", "token", "username", "apiKey", "phone"]) expect(out).not.toHaveProperty(k);
      expect(JSON.stringify(out)).not.toMatch(/@[a-z0-9]+\.(com|org|io|co\.uk)/);
    }), { numRuns: 300 });
  });
});

describe("analytics queue invariants", () => {
  it("stays within maxQueue and accounts for every event", async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("track" as const), count: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ kind: fc.constant("flush" as const), outcome: fc.constantFrom("ok", "offline", "503", "429") }),
      fc.record({ kind: fc.constant("beacon" as const), accepted: fc.boolean() }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 10, max: 60 }), async (ops, maxBatch, maxQueue) => {
        let outcome = "ok";
        let beaconAccepts = true;
        let sent = 0;
        const analytics = new Analytics({
          maxBatch, maxQueue, flushIntervalMs: 0, autoFlushOnExit: false,
          fetch: async (_url, init) => {
            if (outcome === "offline") throw new TypeError("Failed to fetch");
            if (outcome !== "ok") return new Response("", { status: Number(outcome) });
            sent += (JSON.parse(String(init?.body)) as { events: unknown[] }).events.length;
            return new Response('{"accepted":0,"results":[]}', { status: 202 });
          },
          sendBeacon: () => beaconAccepts,
        });
        let tracked = 0;
        try {
          for (const step of ops) {
            if (step.kind === "track") {
              for (let i = 0; i < step.count; i++) analytics.track("custom_event", { i });
              tracked += step.count;
            } else if (step.kind === "flush") {
              outcome = step.outcome;
              await analytics.flush();
            } else {
              beaconAccepts = step.accepted;
              analytics.flushOnExit();
            }
            expect(analytics.pending().length).toBeLessThanOrEqual(maxQueue);
          }
          // A track that fills a batch starts a flush on its own: let it finish.
          await analytics.flush();
          const { sent: statsSent, dropped, rejected } = analytics.stats;
          expect(statsSent + analytics.pending().length + dropped + rejected).toBe(tracked);
          expect(statsSent).toBeGreaterThanOrEqual(sent);
        } finally {
          analytics.close();
        }
      }), { numRuns: 150 });
  });
});
