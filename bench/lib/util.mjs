// Small helpers for bench/run.mjs: logging, child processes, timing, file trees.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const started = process.hrtime.bigint();

/** Progress line on stderr, prefixed with the time since the benchmark started. */
export function log(msg) {
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  process.stderr.write(`[${s.toFixed(1).padStart(7)}s] ${msg}\n`);
}

export function elapsedSeconds() {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * The environment every command runs with: the user's git and mlv settings removed, HOME and
 * XDG_CONFIG_HOME pointing at an empty folder, and a fixed Git identity.
 */
export function makeEnv(home) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('GIT_') || k.startsWith('MLV_')) continue;
    env[k] = v;
  }
  return Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'mlv bench',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'mlv bench',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
    GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
    GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
  });
}

const MAX_BUFFER = 1 << 28;

let clockTicks;
/**
 * CPU time (in clock ticks) used so far by the whole machine and by this process plus its
 * finished children (Linux /proc); undefined elsewhere.
 */
function cpuTicks() {
  try {
    const all = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const busy = all[0] + all[1] + all[2] + all[5] + all[6];
    const self = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields from "state" on: utime, stime, cutime, cstime are fields 14-17 of the file
    const ours = f[11] + f[12] + f[13] + f[14];
    return { busy, ours };
  } catch {
    return undefined;
  }
}

function ticksPerSecond() {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = r.status === 0 && Number(r.stdout.trim()) > 0 ? Number(r.stdout.trim()) : 100;
  }
  return clockTicks;
}

/**
 * Runs a command and returns its outcome plus the wall time around spawnSync, the CPU time the
 * command used (cmdCpuSeconds; with its own children), and the CPU time other processes (anything
 * but this process and the command) used meanwhile: a measure of how much the timing was disturbed
 * on a shared machine.
 */
export function timed(cmd, args, { cwd, env }) {
  const hz = ticksPerSecond();
  const c0 = cpuTicks();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: MAX_BUFFER });
  const t1 = process.hrtime.bigint();
  const c1 = cpuTicks();
  const otherCpuSeconds = c0 && c1 ? Math.max(0, c1.busy - c0.busy - (c1.ours - c0.ours)) / hz : undefined;
  // This process sits in spawnSync meanwhile, so its own share of `ours` is negligible.
  const cmdCpuSeconds = c0 && c1 ? (c1.ours - c0.ours) / hz : undefined;
  return {
    seconds: Number(t1 - t0) / 1e9,
    otherCpuSeconds,
    cmdCpuSeconds,
    code: r.status,
    signal: r.signal,
    error: r.error,
    stdout: r.stdout ? r.stdout.toString('utf8') : '',
    stderr: r.stderr ? r.stderr.toString('utf8') : '',
  };
}

/** One-line description of how a command failed, or undefined when it exited 0. */
export function failureOf(r) {
  if (r.error) return `could not run: ${r.error.message}`;
  if (r.signal) return `killed by ${r.signal}${tail(r.stderr)}`;
  if (r.code !== 0) return `exit code ${r.code}${tail(r.stderr)}`;
  return undefined;
}

function tail(stderr) {
  const s = stderr.trim();
  if (!s) return '';
  return `: ${s.length > 600 ? '...' + s.slice(-600) : s}`.replace(/\s*\n\s*/g, ' | ');
}

/** Untimed setup command; throws with its stderr when it fails. */
export function run(cmd, args, opts) {
  const r = timed(cmd, args, opts);
  const bad = failureOf(r);
  if (bad) throw new Error(`${cmd} ${args.join(' ')} (in ${opts.cwd}): ${bad}`);
  return r;
}

/** The full path of a program on PATH (`which`), or undefined. */
export function which(program) {
  const r = spawnSync('which', [program], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

/** Flushes dirty pages so writeback from setup does not land inside a timed region. */
export function syncFs() {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** rm -rf, also for trees with read-only folders (git-annex makes its objects read-only). */
export function rmTree(p) {
  try {
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    if (err.code !== 'EACCES' && err.code !== 'EPERM') throw err;
    spawnSync('chmod', ['-R', 'u+w', p], { stdio: 'ignore' });
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** `cp -r src dest` (untimed). */
export function copyTree(src, dest, env) {
  run('cp', ['-r', src, dest], { cwd: path.dirname(dest), env });
}

let warmBuffer;
/** Reads every file below `dir` once so that both sides of a comparison start page-cache warm. */
export function warmTree(dir) {
  warmBuffer ??= Buffer.allocUnsafe(4 << 20);
  let bytes = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const fd = fs.openSync(p, 'r');
        try {
          let n;
          while ((n = fs.readSync(fd, warmBuffer, 0, warmBuffer.length, null)) > 0) bytes += n;
        } finally {
          fs.closeSync(fd);
        }
      }
    }
  };
  walk(dir);
  return bytes;
}

export function median(xs) {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Paths of the regular files below `dir`. */
export function filesBelow(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath ?? e.path, e.name));
  return out;
}

/** Regular files below `dir` (whose names `accept` takes) and their total bytes; 0 if it is gone. */
export function countFiles(dir, accept = () => true) {
  let objects = 0;
  let bytes = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && accept(e.name)) {
        objects++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(dir);
  return { objects, bytes };
}

/**
 * Peak memory in bytes from the file `/usr/bin/time -f %M -o FILE` wrote (its last line is the
 * maximum resident set size in KiB; earlier lines may say how the command exited), or undefined.
 */
export function readTimePeak(file) {
  try {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const kib = Number(lines.at(-1).trim());
    return Number.isFinite(kib) && kib > 0 ? kib * 1024 : undefined;
  } catch {
    return undefined;
  }
}
