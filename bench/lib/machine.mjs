// Describes the machine the benchmark ran on.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

function out(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function cpuModel() {
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text) ?? /^Hardware\s*:\s*(.+)$/m.exec(text) ?? /^cpu model\s*:\s*(.+)$/m.exec(text);
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** File system type of `dir`: `df -T` (GNU), falling back to `stat -f`. */
function fsType(dir) {
  const df = out('df', ['-T', dir]);
  if (df) {
    const lines = df.split('\n');
    const fields = lines[lines.length - 1].trim().split(/\s+/);
    if (fields.length >= 2) return { type: fields[1], device: fields[0] };
  }
  const st = out('stat', ['-f', '-c', '%T', dir]);
  return { type: st ?? 'unknown', device: undefined };
}

export function machineInfo(workDir, { repoRoot, env, tools }) {
  const fsInfo = fsType(workDir);
  let mlvVersion;
  try {
    mlvVersion = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    mlvVersion = 'unknown';
  }
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    ramGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    workDir,
    fsType: fsInfo.type,
    fsDevice: fsInfo.device,
    mlv: mlvVersion,
    mlvCommit: out('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { env }) ?? 'unknown',
    // Uncommitted changes to the sources being measured (GIT_OPTIONAL_LOCKS=0: never writes the index).
    mlvDirty: (out('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'bin'], { env: { ...env, GIT_OPTIONAL_LOCKS: '0' } }) ?? '') !== '',
    git: out('git', ['--version'], { env }) ?? 'missing',
    gitLfs: tools.gitLfs ? (out('git', ['lfs', 'version'], { env }) ?? tools.gitLfs) : null,
    gitAnnex: tools.gitAnnex ? (out('git', ['annex', 'version', '--raw'], { env }) ?? tools.gitAnnex) : null,
    // The aws CLI (baseline of the S3 rows): its version line, e.g. "aws-cli/2.9.19 Python/3.11.2 ...".
    // Only looked up when an S3 row runs (tools.aws present, undefined when not installed).
    // rclone (second baseline of the S3 rows), looked up like aws.
    rclone: !('rclone' in tools) ? undefined : tools.rclone ? `${(out(tools.rclone, ['version'], { env }) ?? 'unknown version').split('\n')[0]} (${tools.rclone})` : null,
    gnuTime: Boolean(tools.time),
    aws: !('aws' in tools) ? undefined : tools.aws ? `${(out(tools.aws, ['--version'], { env }) ?? 'unknown version').split(/\s+/)[0]} (${tools.aws})` : null,
  };
}
