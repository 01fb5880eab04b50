import { useEffect, useState, type FormEvent } from "react";

import { ApiError, type ApiClient, type CallRecord } from "./api/client";
import type { Analytics } from "./lib/analytics";
import { setUser } from "./lib/errorTracking";

export interface AppProps {
  api: ApiClient;
  analytics: Analytics;
  errorTracking: boolean;
  /** An address nothing listens on, for `trigger-network-error`. */
  unreachableUrl: string;
}

interface LoginAnswer {
  token: string;
}

interface ChatAnswer {
  id: number;
  reply: string;
}

interface ImageAnswer {
  image_id: string;
  url: string;
}

/** The demo page: every browser telemetry path, one button each (the data-testids are a contract). */
export function App({ api, analytics, errorTracking, unreachableUrl }: AppProps) {
  const [last, setLast] = useState<CallRecord | null>(null);
  const [status, setStatus] = useState("ready");
  const [user, setUserId] = useState<string | null>(null);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [chat, setChat] = useState("");
  const [prompt, setPrompt] = useState("");

  useEffect(() => api.onCall(setLast), [api]);

  async function login(event: FormEvent): Promise<void> {
    event.preventDefault();
    try {
      await api.post<LoginAnswer>("/auth/login", { username, password });
      const id = await setUser(username); // a pseudonym; the username never leaves in telemetry
      analytics.identify(id ?? undefined);
      analytics.trackLogin({ method: "password", success: true });
      setUserId(id);
      setStatus("logged in");
    } catch (error) {
      const reason = error instanceof ApiError ? `http_${error.status}` : "network";
      analytics.trackLogin({ method: "password", success: false, failure_reason: reason });
      setStatus(error instanceof ApiError ? `login failed (${error.status})` : "login failed");
    } finally {
      setPassword("");
    }
  }

  async function sendChat(): Promise<void> {
    const text = chat.trim();
    if (!text) return;
    try {
      const answer = await api.post<ChatAnswer>("/chat/messages", { user: user ?? "anonymous", text });
      analytics.trackChatMessageSent({ message_length: text.length });
      setChat("");
      setStatus(answer.data.reply);
    } catch {
      setStatus("message not sent");
    }
  }

  async function generateImage(): Promise<void> {
    const started = performance.now();
    try {
      const answer = await api.post<ImageAnswer>("/images/generate", { prompt, size: "512x512" });
      analytics.trackImageGenerated({
        prompt_length: prompt.length,
        width: 512,
        height: 512,
        duration_ms: Math.round(performance.now() - started),
        success: true,
      });
      setStatus(`image ${answer.data.image_id}`);
    } catch {
      setStatus("image generation failed");
    }
  }

  // The two API triggers rethrow after showing the failure: the uncaught rejection reaches the global handler,
  // which must not report it a second time (the API client already did).
  async function apiError(): Promise<void> {
    try {
      await api.get("/fail");
    } catch (error) {
      setStatus(`API error: ${(error as Error).message}`);
      throw error;
    }
  }

  async function networkError(): Promise<void> {
    try {
      await api.get(unreachableUrl, { timeoutMs: 5000 });
    } catch (error) {
      setStatus(`network error: ${(error as Error).message}`);
      throw error;
    }
  }

  return (
    <main style={{ fontFamily: "system-ui, sans-serif", maxWidth: 720, margin: "2rem auto", lineHeight: 1.5 }}>
      <h1>otel-distro browser telemetry</h1>
      <p>
        Error tracking is <strong data-testid="error-tracking-state">{errorTracking ? "on" : "off"}</strong>
        {errorTracking ? " (envelopes go through /monitoring/tunnel)" : " (the backend serves no DSN)"}.
      </p>

      <section>
        <h2>Login</h2>
        <form onSubmit={(e) => void login(e)}>
          <input data-testid="login-username" placeholder="username" autoComplete="username"
            value={username} onChange={(e) => setUsername(e.target.value)} />{" "}
          <input data-testid="login-password" placeholder="password" type="password" autoComplete="current-password"
            value={password} onChange={(e) => setPassword(e.target.value)} />{" "}
          <button data-testid="login-submit" type="submit">Log in</button>
        </form>
      </section>

      <section>
        <h2>Chat</h2>
        <input data-testid="chat-input" placeholder="message" value={chat} onChange={(e) => setChat(e.target.value)} />{" "}
        <button data-testid="chat-send" type="button" onClick={() => void sendChat()}>Send</button>
      </section>

      <section>
        <h2>Image</h2>
        <input data-testid="image-prompt" placeholder="prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} />{" "}
        <button data-testid="image-generate" type="button" onClick={() => void generateImage()}>Generate</button>
      </section>

      <section>
        <h2>Failures</h2>
        <button data-testid="trigger-error" type="button" onClick={() => {
          throw new Error("demo: thrown in a click handler");
        }}>Throw in a click handler</button>{" "}
        <button data-testid="trigger-rejection" type="button" onClick={() => {
          void new Promise((_resolve, reject) => reject(new Error("demo: unhandled promise rejection")));
        }}>Unhandled rejection</button>{" "}
        <button data-testid="trigger-api-error" type="button" onClick={() => void apiError()}>API error (500)</button>{" "}
        <button data-testid="trigger-network-error" type="button" onClick={() => void networkError()}>Network error</button>
      </section>

      <section>
        <h2>Last request</h2>
        <p>Look these up in Grafana (Explore: traces by trace id, logs by request_id).</p>
        <dl>
          <dt>endpoint</dt>
          <dd data-testid="last-endpoint">{last ? `${last.context.method} ${last.context.endpoint}` : "-"}</dd>
          <dt>status</dt>
          <dd data-testid="last-status">{last ? (last.status ?? "no answer") : "-"}</dd>
          <dt>request id</dt>
          <dd data-testid="last-request-id">{last?.context.requestId ?? "-"}</dd>
          <dt>trace id</dt>
          <dd data-testid="last-trace-id">{last?.context.traceId ?? "-"}</dd>
        </dl>
        <p data-testid="status">{status}</p>
        <button data-testid="analytics-flush" type="button" onClick={() => void analytics.flush()}>
          Send analytics now
        </button>
      </section>
    </main>
  );
}
