import type { IkeMessage } from '../message/message.js';
import type { Payload } from '../message/payloads.js';
import type { IkeSa } from '../sa/ike-sa.js';

/** Work to queue on an IKE SA: the SA a task ran on, or another (its successor after a rekey). */
export interface Queued {
  sa: IkeSa;
  task: Task;
}

/**
 * What a task tells the engine when it has finished a step, instead of reaching into it:
 * - `done`: nothing more to do;
 * - `next`: queue these exchanges (in order; each runs when the window allows, §2.3);
 * - `destroy`: the IKE SA the task ran on is gone (children down, `ike-down`); `farewell`, when
 *   given, is one last request sent first whose answer is not awaited (§2.21.2's notify).
 */
export type TaskOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'next'; readonly queue: readonly Queued[] }
  | { readonly kind: 'destroy'; readonly reason: string; readonly farewell?: Payload[] };

export const DONE: TaskOutcome = { kind: 'done' };

export function next(sa: IkeSa, ...tasks: Task[]): TaskOutcome {
  return tasks.length === 0 ? DONE : { kind: 'next', queue: tasks.map((task) => ({ sa, task })) };
}

export function destroy(reason: string, farewell?: Payload[]): TaskOutcome {
  return farewell ? { kind: 'destroy', reason, farewell } : { kind: 'destroy', reason };
}

/** One exchange we initiate: built when it is its turn (window size 1), answered once. */
export interface Task {
  name: string;
  exchange: number;
  /** The request's payloads, or an outcome when the task has become moot (nothing is sent). */
  build(): Payload[] | TaskOutcome;
  onResponse(msg: IkeMessage): TaskOutcome;
  /** Retransmissions exhausted; absent: the IKE SA is destroyed ('peer not responding'). */
  onGiveUp?(): TaskOutcome;
  /**
   * The same work on the IKE SA that replaced this one (after an IKE rekey, queued child work
   * moves with the children); absent: the task is dropped with its IKE SA.
   */
  rehome?(successor: IkeSa): Task | undefined;
  /**
   * The request was in flight when its IKE SA was closed after a rekey replaced it (the peer
   * deleted the old SA before we had the answer): the same request again on the successor, for
   * requests that are harmless to repeat; absent: the exchange is lost with the old SA.
   */
  resend?(successor: IkeSa): Task | undefined;
}
