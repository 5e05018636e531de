/**
 * Server reflection (grpc.reflection.v1 and v1alpha), loaded on the first
 * reflection call rather than at start-up. @grpc/reflection and proto-loader
 * parse .proto files with protobufjs, which costs the idle scheduler several
 * MiB, and only grpcurl and the like ever ask. grpc-js takes no services once
 * the server has started, so both services are registered up front with
 * stand-in methods that load @grpc/reflection synchronously when first called
 * and hand each call to its handler.
 */
import { createRequire } from "node:module";
import type { Server, ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from "@grpc/grpc-js";

const require = createRequire(import.meta.url);

type Method = ServiceDefinition[string];
interface Loaded {
  /** By path, e.g. "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo". */
  methods: Map<string, { def: Method; handler: UntypedHandleCall }>;
}

const services = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/**
 * Registers reflection for the given .proto files (relative to `includeDirs`),
 * parsed when a client first asks.
 */
export function addLazyReflection(server: Server, files: string[], includeDirs: string[]): void {
  let loaded: Loaded | undefined;
  const load = (): Loaded => {
    if (loaded) return loaded;
    const { loadSync } = require("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
    const { ReflectionService } = require("@grpc/reflection") as typeof import("@grpc/reflection");
    const methods: Loaded["methods"] = new Map();
    // Collects what ReflectionService would add to a server.
    const collector = {
      addService(def: ServiceDefinition, impl: UntypedServiceImplementation) {
        for (const [name, m] of Object.entries(def)) {
          const handler = impl[name] ?? (m.originalName ? impl[m.originalName] : undefined);
          if (handler) methods.set(m.path, { def: m, handler });
        }
      },
    };
    new ReflectionService(loadSync(files, { includeDirs })).addToServer(collector as unknown as Server);
    loaded = { methods };
    return loaded;
  };
  const method = (path: string) => {
    const m = load().methods.get(path);
    if (!m) throw new Error(`@grpc/reflection serves no ${path}`);
    return m;
  };

  for (const service of services) {
    const path = `/${service}/ServerReflectionInfo`;
    const def: ServiceDefinition = {
      ServerReflectionInfo: {
        path,
        requestStream: true,
        responseStream: true,
        requestSerialize: (v: unknown) => method(path).def.requestSerialize(v),
        requestDeserialize: (b: Buffer) => method(path).def.requestDeserialize(b),
        responseSerialize: (v: unknown) => method(path).def.responseSerialize(v),
        responseDeserialize: (b: Buffer) => method(path).def.responseDeserialize(b),
      },
    };
    const handler = ((call: Parameters<UntypedHandleCall>[0]) =>
      (method(path).handler as (c: typeof call) => void)(call)) as UntypedHandleCall;
    server.addService(def, { ServerReflectionInfo: handler });
  }
}
