// Drives the demo page (/ui/) in Debian's Chromium through playwright-core: no browser download.
//
//   node e2e/drive.mjs '{"url": "http://127.0.0.1:8000/ui/", "userDataDir": "/tmp/x", "credentials": {...}}'
//
// Logs in, sends a chat message, generates an image, clicks each trigger-* button, and prints one JSON line per
// step on stdout ({"step": ..., "requestId": ..., "traceId": ..., "status": ...}) and the envelopes the page posted
// to /monitoring/tunnel, for the test to check against what reached Sentry, the collector and PostgreSQL.
// Anything the page logs to its console goes to stderr.
import { chromium } from "playwright-core";

const options = JSON.parse(process.argv[2] ?? "{}");
const executablePath = options.executablePath ?? "/usr/bin/chromium";
const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

function emit(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

const context = await chromium.launchPersistentContext(options.userDataDir, {
  executablePath,
  headless: true, // playwright adds --headless
  args: FLAGS,
  timeout: 30_000,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on("console", (message) => process.stderr.write(`[console.${message.type()}] ${message.text()}\n`));
  page.on("pageerror", (error) => process.stderr.write(`[pageerror] ${error.message}\n`));
  // What the page itself sends to the tunnel, before the backend touches it.
  const tunnelBodies = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/monitoring/tunnel") tunnelBodies.push(request.postData() ?? "");
  });

  await page.goto(options.url, { waitUntil: "load" });
  await page.getByTestId("error-tracking-state").waitFor();
  emit({ step: "loaded", errorTracking: await page.getByTestId("error-tracking-state").textContent() });

  // The last request panel changes with each call; wait for it to show the one just made.
  async function lastCall(previousRequestId) {
    await page.waitForFunction(
      (before) => {
        const id = document.querySelector('[data-testid="last-request-id"]')?.textContent;
        return id && id !== "-" && id !== before;
      },
      previousRequestId,
    );
    return {
      endpoint: await page.getByTestId("last-endpoint").textContent(),
      status: await page.getByTestId("last-status").textContent(),
      requestId: await page.getByTestId("last-request-id").textContent(),
      traceId: await page.getByTestId("last-trace-id").textContent(),
    };
  }

  let last = "-";
  async function step(name, act) {
    await act();
    const call = await lastCall(last);
    last = call.requestId;
    emit({ step: name, ...call });
  }

  await step("login", async () => {
    await page.getByTestId("login-username").fill(options.credentials.username);
    await page.getByTestId("login-password").fill(options.credentials.password);
    await page.getByTestId("login-submit").click();
  });
  await page.getByTestId("status").filter({ hasText: "logged in" }).waitFor();

  await step("chat", async () => {
    await page.getByTestId("chat-input").fill(options.chat);
    await page.getByTestId("chat-send").click();
  });
  await page.getByTestId("status").filter({ hasText: "echo:" }).waitFor();

  await step("image", async () => {
    await page.getByTestId("image-prompt").fill(options.prompt);
    await page.getByTestId("image-generate").click();
  });
  await page.getByTestId("status").filter({ hasText: "image " }).waitFor();

  await page.getByTestId("trigger-error").click();
  emit({ step: "trigger-error" });
  await page.getByTestId("trigger-rejection").click();
  emit({ step: "trigger-rejection" });
  await step("trigger-api-error", () => page.getByTestId("trigger-api-error").click());
  await step("trigger-network-error", () => page.getByTestId("trigger-network-error").click());

  await page.getByTestId("analytics-flush").click();
  // Hide the page as a closing tab does: the rest of the queue leaves by sendBeacon.
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  // Give the SDK's transport and the beacon a moment to leave before the browser closes.
  await page.waitForTimeout(options.settleMs ?? 1000);
  emit({ step: "tunnel", bodies: tunnelBodies });
  emit({ step: "done" });
} finally {
  await context.close();
}
