/**
 * The caller of the request being served, for code the SDK calls without
 * any request context: its TaskStore methods get only a session id, yet a
 * task method must be checked for the caller who sent it (a session's
 * client is fixed, but its token, and with it its groups, may change from one
 * request to the next). The gateway runs each request of a session inside
 * `withCaller`; the SDK's handlers run in that request's async context.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Caller } from "./calls/tools.ts";

const current = new AsyncLocalStorage<Caller>();

export const withCaller = <T>(caller: Caller, fn: () => T): T => current.run(caller, fn);

/** The caller of the request being served, if it runs inside withCaller. */
export const requestCaller = (): Caller | undefined => current.getStore();
