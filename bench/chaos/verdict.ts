/**
 * Whether a soak run passed, from its figures alone: no Task lost, no
 * completion recorded twice, and no answer lost by a client whose gateway
 * stayed up (a call whose gateway was killed mid-call cannot be answered on
 * its 2025 stream, ADR 0007; it is followed through its Task instead). Each
 * failure is said in a sentence, for the report and the exit status.
 */
export interface VerdictFigures {
  tasks: { lost: number; completionsRecordedTwice: number };
  calls: { answersLostGatewayUp: number };
}

export function soakVerdict(f: VerdictFigures): { ok: boolean; failures: string[] } {
  const failures: string[] = [];
  if (f.tasks.lost > 0) failures.push(`${f.tasks.lost} Task(s) lost`);
  if (f.tasks.completionsRecordedTwice > 0)
    failures.push(`${f.tasks.completionsRecordedTwice} Task(s) with a completion recorded twice`);
  if (f.calls.answersLostGatewayUp > 0)
    failures.push(`${f.calls.answersLostGatewayUp} answer(s) lost while their gateway was up`);
  return { ok: failures.length === 0, failures };
}
