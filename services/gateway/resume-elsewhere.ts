/**
 * A broken 2025 stream resumed where its events are not held: on another
 * replica (the one that sent them went away, or the Service sent the
 * reconnect elsewhere), or here after they were forgotten. The events are
 * lost, but a tools/call's answer is not: its Task is the call, so the answer
 * is read from it, waiting for it to finish. The Last-Event-ID names the
 * requests its stream answers (stream-events.ts); each is looked up among the
 * session's own calls only. A request that made no Task (a list, a call of a
 * federated server's tool) is answered with an error saying to send it again,
 * so the client's request ends instead of waiting for its timeout.
 *
 * What is lost: the notifications the stream would have carried (progress,
 * log messages), and questions the tool asks after the break, which no
 * stream carries to the client any more (the call then waits for its answers
 * until its Task's deadline).
 */
import type { Task } from "../../lib/api/resources.ts";
import type { Logger } from "../../lib/log.ts";
import { callResultOf } from "./calls/outcome.ts";
import type { TaskOutcome } from "./calls/store.ts";

type RequestId = string | number;

export interface ResumeDeps {
  /** The session's call of this JSON-RPC id, if it made a Task. */
  taskOf(id: RequestId): Task | undefined;
  wait(task: Task, onChange?: (t: Task) => void, stop?: AbortSignal): Promise<TaskOutcome>;
  log: Logger;
  /** How long a request's Task is looked for before it is taken to have made none (ms). */
  lookForMs?: number;
  /** Interval of SSE comments that keep the stream from looking idle to proxies (ms). */
  keepAliveMs?: number;
}

/** One answer on the resumed stream, for one request. */
export async function answerOf(id: RequestId, deps: ResumeDeps, stop: AbortSignal): Promise<Record<string, unknown>> {
  // The watch may not have brought a Task another replica created a moment ago: look again for a while.
  let task = deps.taskOf(id);
  for (const until = Date.now() + (deps.lookForMs ?? 2_000); !task && Date.now() < until && !stop.aborted; ) {
    await Bun.sleep(100);
    task = deps.taskOf(id);
  }
  if (!task)
    return errorAnswer(
      id,
      -32000,
      "The stream cannot be resumed here and this request made no task to follow: send it again",
    );
  const outcome = await deps.wait(task, undefined, stop);
  if (outcome.kind === "completed" || outcome.kind === "failed")
    return { jsonrpc: "2.0", id, result: callResultOf(outcome.task) };
  if (outcome.kind === "deleted") return errorAnswer(id, -32603, "The call's task was deleted before it finished");
  return errorAnswer(id, -32603, "The call was not followed to its end");
}

const errorAnswer = (id: RequestId, code: number, message: string) => ({
  jsonrpc: "2.0",
  id,
  error: { code, message },
});

/** An SSE response that answers each request from its Task as it finishes, then ends. */
export function resumeFromTasks(
  ids: RequestId[],
  deps: ResumeDeps,
  opts: { signal: AbortSignal; sessionId: string },
): Response {
  const stop = new AbortController();
  const abort = () => stop.abort();
  if (opts.signal.aborted) abort();
  else opts.signal.addEventListener("abort", abort, { once: true });
  const encoder = new TextEncoder();
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start: async (controller) => {
      const write = (text: string) => {
        if (!stop.signal.aborted) controller.enqueue(encoder.encode(text));
      };
      // at once: the response (its headers) reaches the client with its first bytes
      write(": answered from the calls' tasks\n\n");
      keepAlive = setInterval(() => write(": keep-alive\n\n"), deps.keepAliveMs ?? 15_000);
      try {
        await Promise.all(
          ids.map(async (id) => {
            const answer = await answerOf(id, deps, stop.signal);
            write(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
          }),
        );
      } catch (err) {
        deps.log.warn({ err }, "Could not answer a resumed stream");
      } finally {
        clearInterval(keepAlive);
        opts.signal.removeEventListener("abort", abort);
        try {
          controller.close();
        } catch {
          // cancelled by the client: already closed
        }
      }
    },
    cancel: () => {
      clearInterval(keepAlive);
      abort();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      "mcp-session-id": opts.sessionId,
    },
  });
}
