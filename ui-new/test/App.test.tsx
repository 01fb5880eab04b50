import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { App } from "../src/App";
import { ApiClient, type Reporter } from "../src/api/client";
import { Analytics } from "../src/lib/analytics";
import { parseTraceparent } from "../src/lib/trace";

// React's act() environment flag for a test runner that is not Jest.
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const TEST_IDS = [
  "login-username", "login-password", "login-submit", "chat-input", "chat-send", "image-prompt", "image-generate",
  "trigger-error", "trigger-rejection", "trigger-api-error", "trigger-network-error",
];

let container: HTMLDivElement;
let root: Root;
let analytics: Analytics;

beforeEach(() => {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
  analytics.close();
});

function render(answers: Record<string, () => Response>) {
  const calls: Array<{ url: string; headers: Record<string, string>; body: unknown }> = [];
  const fetch = vi.fn(async (url: RequestInfo | URL, init: RequestInit = {}) => {
    calls.push({ url: String(url), headers: init.headers as Record<string, string>,
      body: init.body ? JSON.parse(String(init.body)) : undefined });
    const answer = answers[String(url)];
    if (!answer) throw new TypeError("Failed to fetch");
    return answer();
  });
  const reporter = { apiError: vi.fn<Reporter["apiError"]>(), networkError: vi.fn<Reporter["networkError"]>() };
  const api = new ApiClient({ fetch, reporter, sleep: async () => undefined });
  analytics = new Analytics({ fetch, flushIntervalMs: 0, autoFlushOnExit: false });
  act(() => root.render(<App api={api} analytics={analytics} errorTracking={false} unreachableUrl="http://127.0.0.1:2/x" />));
  return { calls, reporter };
}

const byId = (id: string): HTMLElement => {
  const element = container.querySelector<HTMLElement>(`[data-testid="${id}"]`);
  if (!element) throw new Error(`no element with data-testid ${id}`);
  return element;
};

function type(id: string, value: string): void {
  const input = byId(id) as HTMLInputElement;
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
  act(() => {
    setter.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

async function click(id: string): Promise<void> {
  await act(async () => {
    byId(id).click();
    await new Promise((resolve) => setTimeout(resolve, 10));
  });
}

const json = (status: number, body: unknown) => () => new Response(JSON.stringify(body), { status });

describe("the demo page", () => {
  it("has every data-testid of the contract", () => {
    render({});
    for (const id of TEST_IDS) expect(byId(id), id).toBeTruthy();
    expect(byId("error-tracking-state").textContent).toBe("off");
  });

  it("logs in, then tracks login/chat/image with a pseudonymous user and no text", async () => {
    const { calls } = render({
      "/auth/login": json(200, { token: "t0k3n-abcdefgh", token_type: "bearer" }),
      "/chat/messages": json(201, { id: 1, reply: "echo: hi there" }),
      "/images/generate": json(200, { image_id: "abc", url: "/images/abc.png" }),
    });
    type("login-username", "ada@example.com");
    type("login-password", "demo-password");
    await click("login-submit");
    expect(byId("status").textContent).toBe("logged in");
    expect((byId("login-password") as HTMLInputElement).value).toBe(""); // not kept in the page
    type("chat-input", "hi there");
    await click("chat-send");
    type("image-prompt", "a lighthouse");
    await click("image-generate");

    const events = analytics.pending();
    expect(events.map((e) => e.name)).toEqual(["login", "chat_message_sent", "image_generated"]);
    expect(events[1]!.properties).toEqual({ message_length: 8 });
    expect(events[2]!.properties).toMatchObject({ prompt_length: 12, width: 512, height: 512, success: true });
    for (const event of events) expect(event.user_id).toMatch(/^u_[0-9a-f]{24}$/);
    // the chat message names the user by the pseudonym as well
    expect(calls.find((c) => c.url === "/chat/messages")!.body).toEqual({ user: events[0]!.user_id, text: "hi there" });
    expect(JSON.stringify(events)).not.toMatch(/ada@example\.com|demo-password|t0k3n/);
  });

  it("shows the last request's id and trace id, as sent", async () => {
    const { calls, reporter } = render({ "/fail": () => new Response("Internal Server Error", { status: 500 }) });
    const unhandled = vi.fn();
    process.on("unhandledRejection", unhandled);
    try {
      await click("trigger-api-error");
    } finally {
      process.off("unhandledRejection", unhandled);
    }
    const sent = calls.find((c) => c.url === "/fail")!;
    expect(byId("last-request-id").textContent).toBe(sent.headers["X-Request-ID"]);
    expect(byId("last-trace-id").textContent).toBe(parseTraceparent(sent.headers["traceparent"]!)!.traceId);
    expect(byId("last-status").textContent).toBe("500");
    expect(reporter.apiError).toHaveBeenCalledTimes(1);
    expect(unhandled).toHaveBeenCalledTimes(1); // rethrown on purpose: the global handler must see it (and drop it)
  });
});
