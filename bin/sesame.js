#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build`, which `npm ci` runs through `prepare`.
import { main } from '../dist/cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`sesame: unexpected failure: ${err && err.message ? err.message.split("\n")[0] : "Error"}\n`);
    process.exitCode = 1;
  },
);
