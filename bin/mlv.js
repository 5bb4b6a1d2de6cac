#!/usr/bin/env node
// Entry point of the `mlv` command: runs the compiled CLI in dist/ (built by `npm install` / `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
// Used by bench/: report this process's peak memory (all threads) when it exits.
if (process.env.MLV_STATS_FILE) {
  process.on('exit', () => writeFileSync(process.env.MLV_STATS_FILE, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + '\n'));
}

process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // Answered without loading the CLI (scripts call this often; it should cost no more than Node's start).
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
} else {
  const { main } = await import('../dist/cli/main.js');
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`error: internal error: ${err?.message ?? err}\n`);
      if (process.env.MLV_DEBUG) process.stderr.write(`${err?.stack}\n`);
      process.exitCode = 1;
    },
  );
}
