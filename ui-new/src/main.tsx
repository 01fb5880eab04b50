import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "./App";
import { api } from "./api/client";
import { Analytics } from "./lib/analytics";
import { initErrorTracking } from "./lib/errorTracking";
import { loadMonitoringConfig } from "./lib/runtimeConfig";

// Nothing listens on port 2 (a privileged port browsers do not block) of this machine's loopback unless someone started a discard server; `?unreachable=`
// names another address (the end-to-end test passes a port it just closed).
const DEFAULT_UNREACHABLE = "http://127.0.0.1:2/unreachable";

async function start(): Promise<void> {
  const config = await loadMonitoringConfig("/monitoring/config");
  const errorTracking = initErrorTracking(config.sentry);
  const analytics = new Analytics({
    endpoint: config.analytics.endpoint,
    maxBatch: config.analytics.maxBatch,
    flushIntervalMs: 2000,
  });
  const unreachableUrl = new URLSearchParams(location.search).get("unreachable") ?? DEFAULT_UNREACHABLE;
  const root = document.getElementById("root");
  if (!root) throw new Error("index.html has no #root element");
  createRoot(root).render(
    <StrictMode>
      <App api={api} analytics={analytics} errorTracking={errorTracking} unreachableUrl={unreachableUrl} />
    </StrictMode>,
  );
}

void start();
