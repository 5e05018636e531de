/**
 * Status conditions, kept as cert-manager keeps them: lastTransitionTime
 * changes only when status does, observedGeneration is always set.
 */
import type { Condition } from "../api/resources.ts";

export interface ConditionInput {
  type: string;
  status: Condition["status"];
  reason: string;
  message: string;
}

/** Returns the conditions with `c` set; the input is not modified. */
export function setCondition(
  conditions: Condition[] | undefined,
  c: ConditionInput,
  now: Date,
  observedGeneration?: number,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const old = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    ...c,
    observedGeneration,
    lastTransitionTime:
      old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now.toISOString(),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Whether setting `c` would change anything but timestamps. */
export function conditionDiffers(
  conditions: Condition[] | undefined,
  c: ConditionInput,
  observedGeneration?: number,
): boolean {
  const old = findCondition(conditions, c.type);
  return (
    !old ||
    old.status !== c.status ||
    old.reason !== c.reason ||
    old.message !== c.message ||
    old.observedGeneration !== observedGeneration
  );
}
