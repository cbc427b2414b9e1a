/**
 * Progress of long work on stderr, for a person at a terminal: a bar when the total is known
 * (`12/200 ████░░░░ 6%`), a spinner when it is not. Nothing at all when stderr is not a
 * terminal (piped, redirected, CI logs), so captured output holds only the final summary the
 * command prints itself. The line is redrawn at most every 80 ms and cleared by `done()`.
 * Written by hand: the well-kept libraries for this (ora, cli-progress) pull in more than the
 * thirty lines it takes, and none is a dependency already.
 */
import { painter } from './colour.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const BAR_WIDTH = 24;
const REDRAW_MS = 80;

export interface Progress {
  /** Report how far the work is (`total` undefined: unknown). */
  update(done: number, total?: number): void;
  /** Clear the line (the caller then prints its one-line summary). */
  done(): void;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): boolean;
}

/**
 * @example
 * const progress = startProgress(ctx.stderr, ctx.env, 'rewrapping data keys');
 * for (…) progress.update(done, total);
 * progress.done();
 */
export function startProgress(stream: ProgressStream, env: NodeJS.ProcessEnv, label: string, now: () => number = Date.now): Progress {
  if (stream.isTTY !== true) return { update() {}, done() {} };
  const paint = painter(stream, env);
  let frame = 0;
  let drawnAt = -Infinity;
  let drawn = false;
  let last: { done: number; total: number | undefined } = { done: 0, total: undefined };
  const draw = () => {
    const { done, total } = last;
    let text: string;
    if (total !== undefined && total > 0) {
      const ratio = Math.min(1, Math.max(0, done / total));
      const full = Math.round(ratio * BAR_WIDTH);
      const bar = `${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}`;
      text = `${label} ${paint('cyan', bar)} ${done}/${total} ${Math.floor(ratio * 100)}%`;
    } else {
      text = `${paint('cyan', FRAMES[frame % FRAMES.length] ?? '')} ${label}${done > 0 ? ` ${done}` : ''}`;
      frame++;
    }
    // \r + erase to end of line: redraw in place without leaving the end of a longer line.
    stream.write(`\r${text}\u001b[K`);
    drawn = true;
  };
  const timer = setInterval(() => {
    if (last.total === undefined) draw();
  }, REDRAW_MS);
  timer.unref();
  draw();
  return {
    update(done, total) {
      last = { done, total };
      const t = now();
      if (t - drawnAt >= REDRAW_MS || (total !== undefined && done >= total)) {
        drawnAt = t;
        draw();
      }
    },
    done() {
      clearInterval(timer);
      if (drawn) stream.write('\r\u001b[K');
    },
  };
}
