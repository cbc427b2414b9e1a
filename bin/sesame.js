#!/bin/sh
":" //; exec node -- "$0" "$@"
// The two lines above start Node with `--` before this file: Node.js 20 reads every `--env-file`
// on its command line when it starts, this script's arguments included, so `sesame run
// --env-file <(…)` had its pipe drained before Sesame read it, and a missing file stopped Node
// itself ("node: x: not found", exit 9). After `--` Node takes no option of ours. (Line 2 is a
// no-op `:` with a `//` argument to the shell, then exec; to Node, a string and a comment.)
//
// The CLI is compiled to dist/ by `npm run build` (which `npm install` in a clone runs through
// `prepare`), and bundled into dist/bundle/ (scripts/bundle-cli.mjs) so that a command starts
// without resolving hundreds of module files. The bundle is used when it is at least as new as
// dist/cli/main.js; after a `tsc`-only build, dist/ is (and with SESAME_BUNDLE=0, always).
//
// This file is CommonJS (bin/package.json): `sesame --version` and `sesame run` with nothing to
// resolve are answered without Node's ES module loader; every other command imports main().
const { readFileSync, statSync } = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const argv = process.argv;
// A reader that stops early (`sesame secrets list | head -1`) closes the pipe: stop quietly, as
// other command-line tools do, instead of crashing with a stack trace on the next write.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const dist = path.join(__dirname, '..', 'dist');
const compiled = path.join(dist, 'cli', 'main.js');

let compiledAt;
/** Whether the bundled `file` stands for dist/ as compiled now (dist/cli/main.js is looked at once). */
function fresh(file) {
  if (process.env.SESAME_BUNDLE === '0') return false;
  try {
    compiledAt ??= statSync(compiled).mtimeMs;
    return statSync(file).mtimeMs >= compiledAt;
  } catch {
    return false;
  }
}

const failed = (err) => {
  process.stderr.write(`sesame: unexpected failure: ${err && err.message ? err.message.split('\n')[0] : 'Error'}\n`);
  process.exitCode = 1;
};
const done = (code) => {
  process.exitCode = code;
};

if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
  // `sesame --version` needs nothing but the version.
  process.stdout.write(`${JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version}\n`);
} else {
  const fast = path.join(dist, 'bundle', 'run-fast.cjs');
  const ran = argv[2] === 'run' && fresh(fast) ? require(fast).runWithoutLibrary(argv) : undefined;
  if (ran !== undefined) {
    ran.then(done, failed);
  } else {
    const bundled = path.join(dist, 'bundle', 'main.mjs');
    import(pathToFileURL(fresh(bundled) ? bundled : compiled).href)
      .then(({ main }) => main(argv))
      .then(done, failed);
  }
}
