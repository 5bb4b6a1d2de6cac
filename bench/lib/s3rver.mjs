// The loopback S3 server of the push-s3 / pull-s3 rows: s3rver (a devDependency of mlv) in a child
// process started with --openssl-legacy-provider (see s3rver-child.mjs), plus helpers to read the
// server's CPU time and what it stores on disk.
import { fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countFiles } from './util.mjs';
import { fileURLToPath } from 'node:url';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 's3rver-child.mjs');
const OBJECT_SUFFIX = '._S3rver_object';

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = r.status === 0 && Number(r.stdout.trim()) > 0 ? Number(r.stdout.trim()) : 100;
  }
  return clockTicks;
}

/** CPU seconds (user + system) process `pid` has used so far (Linux /proc), or undefined. */
export function processCpuSeconds(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number);
    return (f[11] + f[12]) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * Starts s3rver on 127.0.0.1 (a free port) with its data in `directory` and `buckets` created.
 * Resolves to { port, pid, endpoint, cpuSeconds(), stop() }.
 */
export function startS3rver(directory, buckets, { timeoutMs = 30_000 } = {}) {
  fs.mkdirSync(directory, { recursive: true });
  const child = fork(CHILD, [directory, ...buckets], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d.toString('utf8')).slice(-2000);
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      if (child.connected) child.send({ type: 'stop' });
    } catch {
      // already gone
    }
    try {
      child.kill('SIGTERM');
    } catch {
      // already gone
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`s3rver did not start within ${timeoutMs / 1000} s${stderr ? `: ${stderr.trim()}` : ''}`));
    }, timeoutMs);
    child.on('message', (m) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        // The IPC channel must not keep the benchmark alive; the child still exits on disconnect.
        child.unref();
        child.channel?.unref?.();
        child.stderr.unref?.();
        resolve({
          port: m.port,
          pid: child.pid,
          endpoint: `http://127.0.0.1:${m.port}`,
          cpuSeconds: () => processCpuSeconds(child.pid),
          alive: () => child.exitCode === null && child.signalCode === null,
          stderr: () => stderr,
          stop,
        });
      } else if (m?.type === 'error') {
        clearTimeout(timer);
        stop();
        reject(new Error(`s3rver failed to start: ${m.message}`));
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`s3rver could not be started: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!stopped) reject(new Error(`s3rver exited (${signal ?? `code ${code}`}) before it was ready${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/** The s3rver on-disk folder of `bucket`/`prefix` (its objects are `<key>._S3rver_object`). */
export function s3rverPrefixDir(directory, bucket, prefix) {
  return path.join(directory, bucket, ...prefix.split('/').filter(Boolean));
}

/**
 * What s3rver stores below a key prefix, read from its data dir: { objects, bytes } counts the
 * objects and their content bytes (as a GET would return them).
 */
export function storedObjects(dir) {
  return countFiles(dir, (name) => name.endsWith(OBJECT_SUFFIX));
}

/** Disk usage of a folder in bytes (`du -sb`: apparent sizes), or undefined. */
export function diskUsage(dir, { apparent = false } = {}) {
  const r = spawnSync('du', ['-s', apparent ? '-b' : '-B1', dir], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const n = Number(r.stdout.trim().split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
}
