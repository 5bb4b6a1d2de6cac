#!/usr/bin/env node
// Entry point of the `mlv` command: runs the compiled CLI in dist/ (built by `npm install` / `npm run build`).
import { writeFileSync } from 'node:fs';
import { main } from '../dist/cli/main.js';

// Used by bench/: report this process's peak memory (all threads) when it exits.
if (process.env.MLV_STATS_FILE) {
  process.on('exit', () => writeFileSync(process.env.MLV_STATS_FILE, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + '\n'));
}

process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`error: internal error: ${err?.message ?? err}\n`);
    if (process.env.MLV_DEBUG) process.stderr.write(`${err?.stack}\n`);
    process.exitCode = 1;
  },
);
