/**
 * One fixture for the bootstrap every emulator-backed test file repeated: start the emulator(s)
 * and a work directory before the tests of the enclosing `describe`, hand both to `ready` (seed,
 * keep references), and stop the emulators and remove the directory afterwards, even when a
 * test failed.
 *
 * @example
 * let em: GcpSecretManagerEmulator;
 * let wd: Workdir;
 * withEmulator('gcp', startGcpSecretManagerEmulator, (started, dir) => {
 *   em = started;
 *   wd = dir;
 *   em.controls.seed('prod-db-password', 'x');
 * });
 */
import { afterAll, beforeAll } from 'vitest';
import { type Workdir, workdir } from '../e2e/support.js';

interface Stoppable {
  stop(): Promise<void>;
}

/** An emulator, or several (an array or a record of them) started together. */
type Emulators = Stoppable | readonly Stoppable[] | Readonly<Record<string, Stoppable>>;

function stoppables(started: Emulators): Stoppable[] {
  if ('stop' in started && typeof started.stop === 'function') return [started as Stoppable];
  return Object.values(started as Record<string, Stoppable>);
}

export function withEmulator<E extends Emulators>(
  label: string,
  start: () => Promise<E>,
  ready?: (started: E, wd: Workdir) => void | Promise<void>,
): void {
  let started: E | undefined;
  let wd: Workdir | undefined;
  beforeAll(async () => {
    started = await start();
    wd = workdir(label);
    await ready?.(started, wd);
  });
  afterAll(async () => {
    if (started) await Promise.allSettled(stoppables(started).map((e) => e.stop()));
    wd?.remove();
  });
}
