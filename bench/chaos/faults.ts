/**
 * The soak's faults: after a quiet gap, each in turn kills its target with
 * SIGKILL, holds it down, and restarts it. The controller fault kills the
 * current leader; the agents fault, 30% of the agent processes; the
 * apiserver and etcd faults first start probe Tasks that must finish while
 * it is down (load.ts).
 */
import type { LocalControlPlane } from "../../lib/control-plane/local.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import type { SoakConductor } from "./conductor.ts";
import type { FaultKind, SoakOptions } from "./plan.ts";
import { leaseHolder, type ManagedProcess } from "./processes.ts";

/** When a fault was held: from its kill until its target was back (`to` is Infinity until then). */
export interface FaultWindow {
  kind: FaultKind;
  target: string;
  from: number;
  to: number;
}

/** A fault as the report gives it; times in seconds, `startedAt` from the load's start. */
export interface FaultRecord {
  kind: string;
  target: string;
  startedAt: number;
  heldSeconds: number;
  recoveredSeconds: number;
}

/** The fault phase a moment falls in: the kind of the fault held then, or "no fault". */
export function faultPhaseAt(windows: FaultWindow[], t: number): string {
  return windows.find((w) => t >= w.from && t <= w.to)?.kind ?? "no fault";
}

/** The agent processes the agents fault kills: the first 30%, at least one. */
export const agentVictims = (agents: ManagedProcess[]): ManagedProcess[] =>
  agents.slice(0, Math.max(1, Math.ceil(agents.length * 0.3)));

/** A fault's times (ms since the epoch) as the report gives them. */
export function faultRecord(
  w: { kind: string; target: string; from: number },
  times: { loadStart: number; restartAt: number; backAt: number },
): FaultRecord {
  return {
    kind: w.kind,
    target: w.target,
    startedAt: Math.round((w.from - times.loadStart) / 1000),
    heldSeconds: Math.round((times.restartAt - w.from) / 100) / 10,
    recoveredSeconds: Math.round((times.backAt - times.restartAt) / 100) / 10,
  };
}

export interface FaultTargets {
  conductor: SoakConductor;
  cp: LocalControlPlane;
  conn: KubeConnection;
  namespace: string;
  /** Runs before the apiserver or etcd goes down: starts the probes and samples memory. */
  beforeControlPlaneDown: () => Promise<void>;
}

/** Kills the fault's target; says what it killed and how to bring it back. */
async function inject(kind: FaultKind, t: FaultTargets): Promise<{ target: string; restart: () => Promise<void> }> {
  const { scheduler, controllers, gateways, agents } = t.conductor;
  switch (kind) {
    case "controller": {
      const leader = (await leaseHolder(t.conn, t.namespace)) ?? "controller-a";
      const p = controllers.find((c) => c.spec.name === leader) ?? (controllers[0] as ManagedProcess);
      await p.kill9();
      return { target: `${p.spec.name} (the leader)`, restart: () => p.restart() };
    }
    case "scheduler":
      await scheduler.kill9();
      return { target: "scheduler", restart: () => scheduler.restart() };
    case "gateway": {
      const g = gateways[0]?.proc as ManagedProcess;
      await g.kill9();
      return { target: g.spec.name, restart: () => g.restart() };
    }
    case "agents": {
      const victims = agentVictims(agents);
      await Promise.all(victims.map((a) => a.kill9()));
      return {
        target: victims.map((a) => a.spec.name).join(","),
        restart: async () => {
          await Promise.all(victims.map((a) => a.restart()));
        },
      };
    }
    case "apiserver":
      await t.beforeControlPlaneDown();
      await t.cp.stopApiServer("SIGKILL");
      return { target: "kube-apiserver", restart: () => t.cp.startApiServer() };
    case "etcd":
      await t.beforeControlPlaneDown();
      await t.cp.stopEtcd("SIGKILL");
      return { target: "etcd", restart: () => t.cp.startEtcd() };
  }
}

/**
 * Runs `o.faults` in order, each after `o.gapSeconds` and held `o.holdSeconds`,
 * adding each one's window to `windows` as it starts (the load reads its phase
 * from them).
 */
export async function runFaults(
  o: Pick<SoakOptions, "faults" | "gapSeconds" | "holdSeconds">,
  t: FaultTargets,
  run: { windows: FaultWindow[]; loadStart: number; say: (msg: string) => void },
): Promise<FaultRecord[]> {
  const faults: FaultRecord[] = [];
  for (const kind of o.faults) {
    await Bun.sleep(o.gapSeconds * 1000);
    const from = Date.now();
    const { target, restart } = await inject(kind, t);
    run.say(`fault: kill -9 ${target}; holding ${o.holdSeconds} s`);
    const window: FaultWindow = { kind, target, from, to: Number.POSITIVE_INFINITY };
    run.windows.push(window);
    await Bun.sleep(o.holdSeconds * 1000);
    const restartAt = Date.now();
    await restart();
    window.to = Date.now();
    faults.push(faultRecord(window, { loadStart: run.loadStart, restartAt, backAt: Date.now() }));
    run.say(`fault: ${target} back after ${((Date.now() - from) / 1000).toFixed(1)} s`);
  }
  return faults;
}
