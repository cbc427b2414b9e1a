/**
 * Talking to a person at a terminal: a hidden prompt for a secret (nothing echoed, not even
 * stars, so the length does not show either) and a progress line for long work. Written by hand:
 * `readline` echoes what is typed unless its output is muted by patching a private method,
 * and the spinner libraries on npm bring more than one line on stderr needs.
 */
import { UsageError } from '../errors.js';
import type { CliContext } from './context.js';

interface RawInput {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

/** Whether a person can be asked: stdin is a real terminal that can be put in raw mode. */
export function canPrompt(ctx: Pick<CliContext, 'stdin'>): boolean {
  const stdin = ctx.stdin as unknown as RawInput;
  return stdin.isTTY === true && typeof stdin.setRawMode === 'function';
}

/**
 * Ask for a line without echoing it. The question goes to stderr (stdout stays for the
 * command's result). Enter ends the line; Backspace and Ctrl-U edit; Ctrl-C cancels (usage error,
 * nothing done); Ctrl-D on an empty line ends it empty. Cursor keys and other escape sequences
 * are ignored rather than taken as text.
 */
export function promptHidden(ctx: Pick<CliContext, 'stdin' | 'stderr'>, question: string): Promise<string> {
  const stdin = ctx.stdin as CliContext['stdin'] & RawInput;
  if (!canPrompt(ctx)) return Promise.reject(new UsageError('cannot ask for input: stdin is not a terminal'));
  ctx.stderr.write(question);
  stdin.setRawMode?.(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value: string[] = [];
    let inEscape: 'none' | 'start' | 'sequence' = 'none';
    const finish = (outcome: { value: string } | { error: Error }) => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.setRawMode?.(false);
      stdin.pause();
      ctx.stderr.write('\n');
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.value);
    };
    const onEnd = () => finish({ value: value.join('') });
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (inEscape === 'start') {
          inEscape = ch === '[' || ch === 'O' ? 'sequence' : 'none';
          continue;
        }
        if (inEscape === 'sequence') {
          if (ch >= '@' && ch <= '~') inEscape = 'none';
          continue;
        }
        if (ch === '\r' || ch === '\n') return finish({ value: value.join('') });
        if (ch === '\u0003') return finish({ error: new UsageError('cancelled: nothing was written') });
        if (ch === '\u0004') {
          if (value.length === 0) return finish({ value: '' });
          continue;
        }
        if (ch === '\u007f' || ch === '\b') {
          value = value.slice(0, -1);
          continue;
        }
        if (ch === '\u0015') {
          value = [];
          continue;
        }
        if (ch === '\u001b') {
          inEscape = 'start';
          continue;
        }
        if (ch < ' ') continue;
        value.push(ch);
      }
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
  });
}

/**
 * Ask twice for a secret value and return it when both entries match; an empty entry or two that
 * differ is a usage error and nothing is done.
 */
export async function promptSecret(ctx: Pick<CliContext, 'stdin' | 'stderr'>, what: string): Promise<string> {
  const first = await promptHidden(ctx, `${what} (input hidden): `);
  if (first === '') throw new UsageError('no value entered: nothing was written');
  const second = await promptHidden(ctx, 'again, to confirm: ');
  if (second !== first) throw new UsageError('the two entries differ: nothing was written (run the command again)');
  return first;
}

export interface Progress {
  /** One step done; `label` says what (a name, never a value). */
  tick(label?: string): void;
  /** Clear the line; the caller prints its one-line summary after. */
  done(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A spinner with a count on stderr, redrawn in place, when stderr is a terminal; otherwise it
 * prints nothing (logs and pipes get only the summary).
 *
 * @example
 * const progress = startProgress(ctx, 'importing', names.length);
 * for (const name of names) { await write(name); progress.tick(name); }
 * progress.done();
 */
export function startProgress(ctx: Pick<CliContext, 'stderr'>, what: string, total: number): Progress {
  if (ctx.stderr.isTTY !== true) return { tick() {}, done() {} };
  let count = 0;
  let frame = 0;
  let label = '';
  const draw = () => {
    frame = (frame + 1) % FRAMES.length;
    const line = `${FRAMES[frame]} ${what} ${count}/${total}${label ? ` ${label}` : ''}`;
    ctx.stderr.write(`\r\u001b[2K${line.slice(0, 200)}`);
  };
  draw();
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    tick(next) {
      count += 1;
      label = next ?? '';
      draw();
    },
    done() {
      clearInterval(timer);
      ctx.stderr.write('\r\u001b[2K');
    },
  };
}
