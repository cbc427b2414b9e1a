/**
 * Fault injection shared by every emulator: the same four faults, each answered in the
 * provider's own error shape by the emulator that injects it (AWS `__type` JSON, Key Vault
 * `{"error":{…}}`, `google.rpc.Status`, Vault `{"errors":[…]}`, plain HTTP statuses).
 *
 * - `denied`: the caller lacks the permission (403 / AccessDeniedException);
 * - `unavailable`: the service fails (503 / InternalServiceError / UNAVAILABLE / sealed);
 * - `throttled`: the request rate is too high (429 / ThrottlingException / RESOURCE_EXHAUSTED);
 * - `slow`: the answer is delayed by `delayMs`, then served normally.
 *
 * Faults apply to data-plane requests after authentication, never to token endpoints, so a
 * test provokes exactly the failure it names.
 *
 * @example
 * emulator.faults.inject('throttled', { times: 2 });   // the next two requests are throttled
 * emulator.faults.inject('denied');                     // every request, until clear()
 */
export type FaultKind = 'denied' | 'unavailable' | 'throttled' | 'slow';

export interface FaultControls {
  inject(kind: FaultKind, options?: { times?: number; delayMs?: number }): void;
  clear(): void;
}

export class Faults implements FaultControls {
  #plans: Array<{ kind: FaultKind; remaining: number; delayMs: number }> = [];

  inject(kind: FaultKind, options: { times?: number; delayMs?: number } = {}): void {
    this.#plans.push({
      kind,
      remaining: options.times ?? Number.POSITIVE_INFINITY,
      delayMs: options.delayMs ?? 300,
    });
  }

  clear(): void {
    this.#plans = [];
  }

  /** The fault to answer this request with (consumed); a slow fault is waited out here and yields none. */
  async next(): Promise<Exclude<FaultKind, 'slow'> | undefined> {
    const plan = this.#plans.find((p) => p.remaining > 0);
    if (!plan) return undefined;
    plan.remaining -= 1;
    if (plan.kind !== 'slow') return plan.kind;
    await new Promise((resolve) => setTimeout(resolve, plan.delayMs));
    return undefined;
  }
}
