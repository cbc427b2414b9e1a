/**
 * `sesame run`'s arguments read without commander. A workflow step pays for `run` every time,
 * and commander's module costs about as much as everything else `run` loads, so `main()` reads
 * the common case here and starts the command straight away. Anything this reader does not
 * take as it is — help, an unknown option, a missing value, a flag given a value — goes to
 * commander, which answers it with its usual messages and help.
 *
 * It reads exactly what the commander definition in `run.ts` reads (test/cli/run-args.test.ts
 * compares both on the same argument lists): options up to the first operand or `--`, then the
 * command and its arguments as given (`passThroughOptions`); `--name value`, `--name=value`,
 * `-x value` and `-xvalue`; repeatable `--env` and `--env-file`.
 */

export interface RunFlags {
  config?: string;
  namespace: string;
  connection?: string;
  prefix?: string;
  overwrite?: boolean;
  env?: string[];
  envFile?: string[];
}

type ValueOption = 'config' | 'namespace' | 'connection' | 'prefix' | 'env' | 'envFile';

const VALUE_OPTIONS: Record<string, ValueOption> = {
  '--config': 'config',
  '-c': 'config',
  '--namespace': 'namespace',
  '-n': 'namespace',
  '--connection': 'connection',
  '--prefix': 'prefix',
  '--env': 'env',
  '-e': 'env',
  '--env-file': 'envFile',
};

/**
 * The flags and the command line of `sesame run …`, from the arguments after `run`; undefined
 * when commander should read them (help, unknown options, usage errors).
 */
export function readRunArguments(
  args: readonly string[],
): { flags: RunFlags; command: string[] } | undefined {
  const flags: RunFlags = { namespace: '' };
  const set = (option: ValueOption, value: string) => {
    if (option === 'env' || option === 'envFile') flags[option] = [...(flags[option] ?? []), value];
    else flags[option] = value;
  };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    if (arg === '--overwrite') {
      flags.overwrite = true;
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg.startsWith('--') ? arg : arg.slice(0, 2);
    const option = VALUE_OPTIONS[name];
    if (option === undefined) return undefined;
    if (eq > 0) set(option, arg.slice(eq + 1));
    else if (!arg.startsWith('--') && arg.length > 2) set(option, arg.slice(2));
    else {
      // As commander: a required value is the next argument, whatever it looks like.
      const value = args[i + 1];
      if (value === undefined) return undefined;
      set(option, value);
      i++;
    }
  }
  const command = args.slice(i);
  // No command: commander says what is missing.
  if (command.length === 0) return undefined;
  return { flags, command };
}
