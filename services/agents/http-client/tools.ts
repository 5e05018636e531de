/**
 * http-client tools: GET and POST, only to hosts on an allowlist, with a
 * timeout and a cap on the response size. Redirects are followed by hand so
 * each hop is checked against the allowlist too.
 */
import { type AnyTool, defineTool, invalidInput, ToolError } from "../../../lib/agent/tool.ts";

export const capability = "http";

export interface HttpLimits {
  /** Hosts allowed: "api.example.com", "*.example.com", or "127.0.0.1:8080" for one port. */
  allowedHosts: string[];
  timeoutMs?: number;
  maxResponseBytes?: number;
  maxRedirects?: number;
}

/** Whether a URL's host (and port) is on the allowlist. */
export function hostAllowed(url: URL, allowed: string[]): boolean {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return allowed.some((entry) => {
    const [pattern, p] = entry.toLowerCase().split(/:(?=\d+$)/) as [string, string | undefined];
    if (p && p !== port) return false;
    if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1)) && host !== pattern.slice(2);
    return host === pattern;
  });
}

async function readCapped(res: Response, max: number, signal: AbortSignal): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      throw new ToolError("ResponseTooLarge", `the response is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

interface RequestInput {
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs?: number;
}

export function httpTools(limits: HttpLimits): AnyTool[] {
  const maxBytes = limits.maxResponseBytes ?? 1024 * 1024;
  const defaultTimeout = limits.timeoutMs ?? 10_000;
  const maxRedirects = limits.maxRedirects ?? 5;

  async function request(method: "GET" | "POST", input: RequestInput, signal: AbortSignal) {
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw invalidInput(`payload.url: ${input.url} is not a URL`);
    }
    const timeoutMs = Math.min(input.timeoutMs ?? defaultTimeout, defaultTimeout);
    const timeout = AbortSignal.timeout(timeoutMs);
    const all = AbortSignal.any([signal, timeout]);
    let body: string | undefined;
    const headers: Record<string, string> = { ...(input.headers ?? {}) };
    if (method === "POST" && input.body !== undefined) {
      body = typeof input.body === "string" ? input.body : JSON.stringify(input.body);
      if (typeof input.body !== "string" && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
        headers["Content-Type"] = "application/json";
      }
    }
    for (let hop = 0; ; hop++) {
      if (url.protocol !== "http:" && url.protocol !== "https:")
        throw invalidInput(`payload.url: only http and https are allowed, not ${url.protocol}`);
      if (!hostAllowed(url, limits.allowedHosts)) {
        throw new ToolError(
          "HostNotAllowed",
          `${hop ? "a redirect to " : "payload.url: "}${url.host} is not on the allowlist`,
        );
      }
      let res: Response;
      try {
        res = await fetch(url, { method, headers, body, redirect: "manual", signal: all });
      } catch (err) {
        if (timeout.aborted) throw new ToolError("Timeout", `no response within ${timeoutMs} ms`, { retryable: true });
        if (signal.aborted) throw err;
        throw new ToolError("ConnectionFailed", `${url.host}: ${(err as Error).message}`, { retryable: true });
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        if (hop >= maxRedirects) throw new ToolError("TooManyRedirects", `more than ${maxRedirects} redirects`);
        url = new URL(location, url);
        if (res.status === 303) {
          method = "GET";
          body = undefined;
        }
        continue;
      }
      let text: string;
      try {
        text = await readCapped(res, maxBytes, all);
      } catch (err) {
        if (timeout.aborted)
          throw new ToolError("Timeout", `the response took longer than ${timeoutMs} ms`, { retryable: true });
        throw err;
      }
      const responseHeaders: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        responseHeaders[k] = v;
      });
      return { status: res.status, ok: res.ok, url: url.toString(), headers: responseHeaders, body: text };
    }
  }

  const common = {
    url: { type: "string", format: "uri", minLength: 1, maxLength: 8192 },
    headers: { type: "object", additionalProperties: { type: "string" }, maxProperties: 64 },
    timeoutMs: { type: "integer", minimum: 1, maximum: defaultTimeout },
  };
  const hosts = limits.allowedHosts.join(", ") || "(none)";
  return [
    defineTool({
      name: "http_get",
      title: "HTTP GET",
      description: `Fetches a URL with GET. Allowed hosts: ${hosts}. Responses over ${maxBytes} bytes fail.`,
      capability,
      inputSchema: { type: "object", properties: common, required: ["url"], additionalProperties: false },
      handler: (input: RequestInput, ctx) => request("GET", input, ctx.signal),
    }),
    defineTool({
      name: "http_post",
      title: "HTTP POST",
      description: `Sends a POST with a JSON or text body. Allowed hosts: ${hosts}. Responses over ${maxBytes} bytes fail.`,
      capability,
      inputSchema: {
        type: "object",
        properties: { ...common, body: { description: "A string is sent as is; anything else as JSON" } },
        required: ["url"],
        additionalProperties: false,
      },
      handler: (input: RequestInput, ctx) => request("POST", input, ctx.signal),
    }),
  ];
}
