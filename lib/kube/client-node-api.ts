/**
 * client-node's generated API classes (CoreV1Api, AuthenticationV1Api, …)
 * over a KubeConnection, so they carry its TLS identity under Bun. A module
 * of its own because loading client-node costs a process about 45 MiB (ADR
 * 0001): only who imports this pays for it; no service does.
 *
 *   const core = makeApiClient(conn, CoreV1Api);
 */
import {
  type ApiType,
  type Configuration,
  createConfiguration,
  type RequestContext,
  ResponseContext,
  ServerConfiguration,
  wrapHttpLibrary,
} from "@kubernetes/client-node";
import type { KubeConnection } from "./connection.ts";
import { KubeConnectionError } from "./errors.ts";

/**
 * An API class whose requests go through `conn`: its authentication headers
 * on each request, and Bun's fetch with its TLS (client-node's undici
 * dispatcher, which Bun ignores, is not used). Response bodies are buffered,
 * so watch through ResourceClient.watch, not through these classes.
 */
export function makeApiClient<T extends ApiType>(
  conn: KubeConnection,
  apiClientType: new (config: Configuration) => T,
): T {
  const config = createConfiguration({
    baseServer: new ServerConfiguration(conn.server, {}),
    authMethods: {
      default: {
        getName: () => "KubeConnection",
        applySecurityAuthentication: async (ctx: RequestContext) => {
          for (const [k, v] of Object.entries(await conn.authHeaders())) ctx.setHeaderParam(k, v);
        },
      },
    },
    httpApi: wrapHttpLibrary({
      send: async (ctx: RequestContext): Promise<ResponseContext> => {
        const method = ctx.getHttpMethod().toString();
        const sentAt = Date.now();
        let res: Response;
        try {
          res = await fetch(ctx.getUrl(), {
            method,
            headers: ctx.getHeaders(),
            body: ctx.getBody() as BodyInit | undefined,
            signal: ctx.getSignal() as AbortSignal | undefined,
            tls: await conn.tls(),
          } as RequestInit);
        } catch (err) {
          throw new KubeConnectionError(method, new URL(ctx.getUrl()).pathname, err);
        }
        if (res.status === 401) conn.credentials.unauthorized(sentAt);
        const headers: Record<string, string> = {};
        res.headers.forEach((v, k) => {
          headers[k] = v;
        });
        const bytes = Buffer.from(await res.arrayBuffer());
        return new ResponseContext(res.status, headers, {
          text: async () => bytes.toString("utf8"),
          binary: async () => bytes,
          stream: () => new Blob([bytes]).stream(),
        });
      },
    }),
  });
  return new apiClientType(config);
}
