/** The two ways an API call fails, each carrying what is needed to find the request on the server side. */

export interface RequestContext {
  /** Path or URL as called, e.g. `/chat/messages`. */
  endpoint: string;
  method: string;
  /** The `X-Request-ID` sent (the server returns it and logs it on every line of the request). */
  requestId: string;
  /** The trace id of the `traceparent` sent: the backend's server span carries the same one. */
  traceId: string;
  /** The span id of the `traceparent` sent: the server span's parent. */
  spanId: string;
  /** Attempts made, retries included. */
  attempts: number;
}

/** The server answered with a non-2xx status. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  /** The response body: parsed JSON when it was JSON, else the text (truncated to 2 KB). */
  readonly body: unknown;
  readonly context: RequestContext;

  constructor(status: number, body: unknown, context: RequestContext) {
    super(`${context.method} ${context.endpoint} answered ${status}${detail(body)}`);
    this.status = status;
    this.body = body;
    this.context = context;
  }

  get requestId(): string {
    return this.context.requestId;
  }

  get traceId(): string {
    return this.context.traceId;
  }
}

/** No answer: the connection failed, was refused, or the call timed out. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  readonly timedOut: boolean;
  readonly context: RequestContext;

  constructor(context: RequestContext, options: { timedOut: boolean; cause: unknown }) {
    const reason = options.timedOut ? "timed out" : `failed: ${describe(options.cause)}`;
    super(`${context.method} ${context.endpoint} ${reason}`, { cause: options.cause });
    this.timedOut = options.timedOut;
    this.context = context;
  }

  get requestId(): string {
    return this.context.requestId;
  }

  get traceId(): string {
    return this.context.traceId;
  }
}

function detail(body: unknown): string {
  if (body && typeof body === "object" && "detail" in body && typeof body.detail === "string") {
    return `: ${body.detail.slice(0, 200)}`;
  }
  return "";
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
