/**
 * The prom-client classes the services use, each loaded from its own file.
 * The package's index also loads what none of them uses (Summary, the
 * Pushgateway with http, https and zlib, cluster aggregation, default
 * metrics), which costs an idle process 1 to 4 MiB (bench/memory.ts).
 */
import { createRequire } from "node:module";
import type * as prom from "prom-client";

const require = createRequire(import.meta.url);

export const Registry: typeof prom.Registry = require("prom-client/lib/registry");
export type Registry<T extends prom.RegistryContentType = prom.PrometheusContentType> = prom.Registry<T>;
export const Counter: typeof prom.Counter = require("prom-client/lib/counter");
export type Counter<T extends string = string> = prom.Counter<T>;
export const Gauge: typeof prom.Gauge = require("prom-client/lib/gauge");
export type Gauge<T extends string = string> = prom.Gauge<T>;
export const Histogram: typeof prom.Histogram = require("prom-client/lib/histogram");
export type Histogram<T extends string = string> = prom.Histogram<T>;
