/**
 * The runtime configuration the backend serves at `GET /monitoring/config`: nothing about the environment is
 * compiled into the build. When it cannot be read, the defaults apply: error tracking off, analytics on.
 */

export interface SentryRuntimeConfig {
  dsn: string | null;
  environment: string;
  release: string | null;
  tracesSampleRate: number;
  sampleRate: number;
  tunnel: string;
}

export interface AnalyticsRuntimeConfig {
  endpoint: string;
  maxBatch: number;
}

/** The body of `GET /monitoring/config`. */
export interface MonitoringConfig {
  sentry: SentryRuntimeConfig;
  analytics: AnalyticsRuntimeConfig;
}

export const DEFAULT_CONFIG: MonitoringConfig = {
  sentry: { dsn: null, environment: "development", release: null, tracesSampleRate: 0, sampleRate: 1,
    tunnel: "/monitoring/tunnel" },
  analytics: { endpoint: "/analytics/events", maxBatch: 100 },
};

/**
 * The runtime config from the backend, or the defaults (error tracking off) when it cannot be read: the app
 * works without it.
 */
export async function loadMonitoringConfig(
  url = "/monitoring/config",
  fetchImpl: typeof fetch = (...args) => fetch(...args),
): Promise<MonitoringConfig> {
  try {
    const response = await fetchImpl(url, { headers: { Accept: "application/json" } });
    if (!response.ok) return DEFAULT_CONFIG;
    return parseMonitoringConfig(await response.json());
  } catch {
    return DEFAULT_CONFIG;
  }
}

/** The config with wrong or missing fields replaced by defaults (never throws). */
export function parseMonitoringConfig(raw: unknown): MonitoringConfig {
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === "object" ? v as Record<string, unknown> : {});
  const s = obj(obj(raw)["sentry"]);
  const a = obj(obj(raw)["analytics"]);
  const d = DEFAULT_CONFIG;
  const str = (v: unknown, fallback: string): string => (typeof v === "string" && v ? v : fallback);
  const rate = (v: unknown, fallback: number): number =>
    (typeof v === "number" && v >= 0 && v <= 1 ? v : fallback);
  return {
    sentry: {
      dsn: typeof s["dsn"] === "string" && s["dsn"] ? s["dsn"] : null,
      environment: str(s["environment"], d.sentry.environment),
      release: typeof s["release"] === "string" && s["release"] ? s["release"] : null,
      tracesSampleRate: rate(s["tracesSampleRate"], d.sentry.tracesSampleRate),
      sampleRate: rate(s["sampleRate"], d.sentry.sampleRate),
      tunnel: str(s["tunnel"], d.sentry.tunnel),
    },
    analytics: {
      endpoint: str(a["endpoint"], d.analytics.endpoint),
      maxBatch: typeof a["maxBatch"] === "number" && a["maxBatch"] >= 1 ? Math.floor(a["maxBatch"]) : d.analytics.maxBatch,
    },
  };
}
