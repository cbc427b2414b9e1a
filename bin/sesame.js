#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build` (which `npm install` in a clone runs through
// `prepare`), and bundled into dist/bundle/ (scripts/bundle-cli.mjs) so that a command starts
// without resolving hundreds of module files. The bundle is used when it is at least as new as
// dist/cli/main.js; after a `tsc`-only build, dist/ is (and with SESAME_BUNDLE=0, always).
import { readFileSync, statSync } from 'node:fs';

const argv = process.argv;
// A reader that stops early (`sesame secrets list | head -1`) closes the pipe: stop quietly, as
// other command-line tools do, instead of crashing with a stack trace on the next write.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
// `sesame --version` needs nothing but the version.
if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  const bundled = new URL('../dist/bundle/main.mjs', import.meta.url);
  const compiled = new URL('../dist/cli/main.js', import.meta.url);
  let entry = compiled;
  try {
    if (process.env.SESAME_BUNDLE !== '0' && statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs) entry = bundled;
  } catch {
    // No bundle (or no dist/cli/main.js, which the import below reports).
  }
  const { main } = await import(entry.href);
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`sesame: unexpected failure: ${err && err.message ? err.message.split('\n')[0] : 'Error'}\n`);
      process.exitCode = 1;
    },
  );
}
