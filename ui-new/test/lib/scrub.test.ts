import { describe, expect, it } from "vitest";

import { isPersonalKey, isSecretKey, luhnValid, scrubText, scrubValue } from "../../src/lib/scrub";

describe("scrubText", () => {
  it.each([
    ["mail ada.lovelace+x@example.co.uk now", "mail [REDACTED:email] now"],
    ["card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok"],
    ["card 5500-0000-0000-0004", "card [REDACTED:card]"],
    ["https://bob:hunter2@example.com/x", "https://bob:[REDACTED:password]@example.com/x"],
    ["/login?user=1&password=hunter2&next=/", "/login?user=1&password=[REDACTED:secret]&next=/"],
    ["/cb?access_token=abc.def&state=1", "/cb?access_token=[REDACTED:secret]&state=1"],
    ['{"username":"x","password":"hunter2"}', '{"username":"x","password":"[REDACTED:password]"}'],
    ["Authorization: Bearer abcdef0123456789xyz", "Authorization: Bearer [REDACTED:bearer]"],
    ["jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-nature_1", "jwt [REDACTED:jwt]"],
    ["key ghp_0123456789abcdefghijABCDEFGHIJ012345", "key [REDACTED:token]"],
    ["aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:token]"],
    ["/users?email=ada.lovelace%40example.com&x=1", "/users?email=[REDACTED:email]&x=1"],
    ["/users/ada%40example.com/items", "/users/[REDACTED:email]/items"],
  ])("redacts %j", (input, expected) => {
    expect(scrubText(input)).toBe(expected);
  });

  it.each([
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "request 3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "order 1234567890123 (not Luhn-valid)",
    "GET /items/42 answered 500",
    "released 2026-12-06T18:39:18Z version 1.65.2",
  ])("keeps %j", (input) => {
    expect(scrubText(input)).toBe(input);
  });

  it("checks card numbers with Luhn", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("0000000000000000")).toBe(false);
  });
});

describe("scrubValue", () => {
  it("replaces values under secret and personal keys whole, scrubs strings elsewhere, keeps ids", () => {
    const input = {
      password: "hunter2",
      refreshToken: "r-123",
      "X-Auth-Token": "t-456",
      email: "ada@example.com",
      note: "reach me at ada@example.com",
      nested: [{ card_number: 4111111111111111, text: "4111111111111111" }],
      trace_id: "4111111111111111",
      count: 3,
    };
    expect(scrubValue(input)).toEqual({
      password: "[REDACTED:secret]",
      refreshToken: "[REDACTED:secret]",
      "X-Auth-Token": "[REDACTED:secret]",
      email: "[REDACTED:personal]",
      note: "reach me at [REDACTED:email]",
      nested: [{ card_number: "[REDACTED:secret]", text: "[REDACTED:card]" }],
      trace_id: "4111111111111111",
      count: 3,
    });
    expect(input.password).toBe("hunter2"); // a copy, the input is untouched
  });

  it("keeps only id-shaped values under id keys: an e-mail used as an id is still redacted", () => {
    expect(scrubValue({ id: "ada@example.com", request_id: "req for ada@example.com", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" }))
      .toEqual({ id: "[REDACTED:email]", request_id: "req for [REDACTED:email]", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" });
  });

  it("cuts cycles", () => {
    const a: Record<string, unknown> = { x: "a@b.io" };
    a["self"] = a;
    expect(scrubValue(a)).toEqual({ x: "[REDACTED:email]", self: "[Circular]" });
  });

  it("names secret and personal keys in any casing", () => {
    for (const key of ["password", "Password", "api_key", "apiKey", "client-secret", "Cookie", "authorization"]) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of ["email", "E-Mail", "username", "userName", "phone_number"]) expect(isPersonalKey(key), key).toBe(true);
    // with a qualifier in front or behind: the value is still the person's
    for (const key of ["customer_email", "billingAddress", "contact-phone", "client_ip", "customerFullName", "email_address_2"]) {
      expect(isPersonalKey(key), key).toBe(true);
    }
    for (const key of ["length", "size", "method", "success", "duration_ms", "session_id", "tokens_used_total", "zip_code", "tooltip_shown", "emails_sent"]) {
      expect(isSecretKey(key) || isPersonalKey(key), key).toBe(false);
    }
  });
});

describe("scrubText on long input", () => {
  // Each of these took seconds at 20 000 characters and grew with the square of the length (a regex restarting
  // a greedy scan at every position): 200 000 characters would freeze the page in beforeSend for minutes. They
  // are linear now; the generous test timeout is the guard, not a measured speed.
  it.each([
    ["a run of local-part characters with no @", "a".repeat(200_000)],
    ["a run of % signs", "%".repeat(200_000)],
    ["a long domain with no top-level label", "a@" + "a.".repeat(100_000)],
    ["blanks after a password key", "password" + " ".repeat(200_000) + "x"],
    ["tabs after a token key", "token" + "\t".repeat(200_000) + "x"],
    ["blanks after Bearer", "Bearer" + " ".repeat(200_000) + "x"],
  ])("is linear: %s", (_label, input) => {
    expect(scrubText(input).length).toBeGreaterThan(0);
  }, 30_000);

  it("still redacts what the bounded patterns are for", () => {
    expect(scrubText("x ada@example.com y")).toBe("x [REDACTED:email] y");
    expect(scrubText('"password" :  "hunter2"')).toBe('"password" :  "[REDACTED:password]"');
    expect(scrubText("Authorization: Bearer   abcdef0123456789")).toBe("Authorization: Bearer   [REDACTED:bearer]");
  });
});
