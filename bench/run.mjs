#!/usr/bin/env node
// mlv benchmark: times mlv add / status / checkout against cp -r and git status (and, where
// installed, git lfs and git annex), and mlv push / pull against `aws s3 sync` (on a local s3rver)
// and `cp -r` (folder remote), on a generated dataset, and checks the targets from the spec.
// Usage: see `node bench/run.mjs --help` and bench/README.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { datasetSpec, ensureDataset, footprint } from './lib/dataset.mjs';
import { rowDiff, rowGc } from './lib/history-rows.mjs';
import { machineInfo } from './lib/machine.mjs';
import { rowRclone } from './lib/rclone.mjs';
import { renderMachine, renderResults, renderScale } from './lib/report.mjs';
import { SCALE_SIZES, SCALE_SIZES_QUICK, SHAPES, shapePreset } from './lib/shapes.mjs';
import { diskUsage, s3rverPrefixDir, startS3rver, storedObjects } from './lib/s3rver.mjs';
import { copyTree, countFiles, elapsedSeconds, failureOf, filesBelow, log, makeEnv, median, readTimePeak, rmTree, run, syncFs, timed, warmTree, which } from './lib/util.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

// Targets (from the issue). 300 MB is read as 300,000,000 bytes (286.1 MiB), the stricter reading.
const MEM_LIMIT_BYTES = 300e6;
const ADD_MAX_RATIO = 1.5;
const STATUS_MAX_RATIO = 1.5;
const S3_MAX_RATIO = 1 / 1.5; // mlv push / pull at least 1.5x faster than aws s3 sync
const LFS_MAX_RATIO = 1 / 15; // mlv add at least 15x faster than git lfs
const HASH_MIN_GBS = 3; // hashing a large file end to end, from page cache
// The push/pull rows move every object through a server (s3rver takes minutes for 20,000 objects
// per direction): they run min(--runs, 3) times unless --remote-runs says otherwise.
const REMOTE_MAX_RUNS = 3;
const S3_BUCKET = 'mlv-bench';

const MEM = 'mem < 300 MB';
const ROWS = {
  'add-cold': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv add, cold cache',
    baseline: '`cp -r`',
    target: `≤ ${ADD_MAX_RATIO}× cp -r, ${MEM}`,
    ratioLimit: ADD_MAX_RATIO,
    needs: [],
    run: rowAddCold,
  },
  'add-noop': {
    title: 'mlv add again, nothing changed',
    baseline: null,
    target: `0 files hashed, ${MEM}`,
    needs: ['prepared'],
    run: rowAddNoop,
  },
  'status-clean': {
    title: 'mlv status, nothing changed',
    baseline: '`git status`',
    target: `≤ ${STATUS_MAX_RATIO}× git status, ${MEM}`,
    ratioLimit: STATUS_MAX_RATIO,
    needs: ['prepared', 'gitrepo'],
    run: (ctx, row) => rowStatus(ctx, row, 'clean'),
  },
  'status-change': {
    title: 'mlv status, 1 file changed',
    baseline: '`git status`',
    target: `change reported, ${MEM}`,
    needs: ['prepared', 'gitrepo'],
    run: (ctx, row) => rowStatus(ctx, row, 'one'),
  },
  'status-1pct': {
    title: 'mlv status, 1% of the files changed',
    baseline: '`git status`',
    target: `changes reported, ${MEM}`,
    needs: ['prepared', 'gitrepo'],
    run: (ctx, row) => rowStatus(ctx, row, 'pct'),
  },
  checkout: {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv checkout data, after rm -rf data',
    baseline: '`cp -r`',
    target: `data restored, ${MEM}`,
    needs: ['prepared'],
    run: rowCheckout,
  },
  diff: {
    title: 'mlv diff HEAD~1 HEAD, commits differing in 1 file',
    baseline: '`git diff --name-status HEAD~1 HEAD`',
    target: `1 modified reported, ${MEM}`,
    needs: ['prepared', 'gitrepo'],
    run: (ctx, row) => rowDiff(ctx, row),
  },
  gc: {
    title: 'mlv gc --all-commits --grace 0, 2 replaced versions of 1% of the files',
    baseline: null,
    target: `replaced objects removed, ${MEM}`,
    needs: ['prepared'],
    run: (ctx, row) => rowGc(ctx, row),
  },
  hash: {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'hashing end to end: mlv status after every file was touched (read + BLAKE3, page cache)',
    baseline: '`sha256sum` of every file',
    target: `≥ ${HASH_MIN_GBS} GB/s`,
    needs: [],
    run: (ctx, row) => rowHash(ctx, row),
  },
  'push-s3': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv push to S3 (local s3rver), empty prefix',
    baseline: '`aws s3 sync` (upload)',
    target: `≥ 1.5× faster than aws s3 sync (≤ 0.67×), 0 failed, ${MEM}`,
    ratioLimit: S3_MAX_RATIO,
    remote: 's3',
    needs: ['prepared'],
    run: (ctx, row) => rowPush(ctx, row, 's3'),
  },
  'push-s3-rclone': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv push to S3 (local s3rver), vs rclone',
    baseline: '`rclone copy` (upload)',
    target: 'info only',
    info: true,
    remote: 's3',
    needs: [],
    run: (ctx, row) => rowRclone(ctx, row, 'push'),
  },
  'pull-s3': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv pull from S3 (local s3rver) in a fresh git clone',
    baseline: '`aws s3 sync` (download)',
    target: `≥ 1.5× faster than aws s3 sync (≤ 0.67×), data restored, ${MEM}`,
    ratioLimit: S3_MAX_RATIO,
    remote: 's3',
    needs: ['prepared'],
    run: (ctx, row) => rowPull(ctx, row, 's3'),
  },
  'pull-s3-rclone': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv pull from S3 (local s3rver), vs rclone',
    baseline: '`rclone copy` (download)',
    target: 'info only',
    info: true,
    remote: 's3',
    needs: [],
    run: (ctx, row) => rowRclone(ctx, row, 'pull'),
  },
  'push-folder': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv push to a folder remote (same disk), empty folder',
    baseline: '`cp -r`',
    target: `0 failed, ${MEM}`,
    remote: 'folder',
    needs: ['prepared'],
    run: (ctx, row) => rowPush(ctx, row, 'folder'),
  },
  'pull-folder': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv pull from a folder remote in a fresh git clone',
    baseline: '`cp -r`',
    target: `data restored, ${MEM}`,
    remote: 'folder',
    needs: ['prepared'],
    run: (ctx, row) => rowPull(ctx, row, 'folder'),
  },
  'lfs-add': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv add, cold cache (vs git lfs)',
    baseline: '`git add data` (git lfs)',
    target: `≥ 15× faster than git lfs (≤ ${LFS_MAX_RATIO.toFixed(3)}×)`,
    ratioLimit: LFS_MAX_RATIO,
    needs: [],
    run: (ctx, row) => rowOtherTool(ctx, row, 'lfs'),
  },
  'annex-add': {
    bytes: true, // reads or writes every byte: its rate is in GB/s for large files
    title: 'mlv add, cold cache (vs git annex)',
    baseline: '`git annex add data`',
    target: 'info only',
    info: true,
    needs: [],
    run: (ctx, row) => rowOtherTool(ctx, row, 'annex'),
  },
};
const ROW_IDS = Object.keys(ROWS);
// --scale runs these unless --rows says otherwise (the push/pull rows take hours at 200k files).
const SCALE_ROWS = ['add-cold', 'add-noop', 'status-clean', 'status-change', 'status-1pct', 'checkout', 'diff', 'gc'];

const USAGE = `usage: node bench/run.mjs [options]     (or: npm run bench -- [options])

  --shape a|b|c        dataset shape (default a):
                         a: 20,000 files of 4 KiB in 20 folders + 2 files of 256 MiB
                         b: 200,000 files of 1 KiB in nested folders (100 per folder)
                         c: one file of 4 GiB
                       (--quick: a 2,000 + 1 x 16 MiB; b 2,000 files; c 256 MiB)
  --files N            number of small files of the shape (shape b: folders follow)
  --scale              run shape b at ${SCALE_SIZES.join(', ')} files (--quick: ${SCALE_SIZES_QUICK.join(', ')})
                       and print the time per file of each row at each size
  --scale-sizes LIST   comma-separated sizes for --scale instead
  --small-files N      small files in the dataset (overrides the shape)
  --folders N          folders the small files are spread over
  --small-size BYTES   size of each small file
  --large-files N      large files
  --large-size-mib N   size of each large file in MiB
  --runs N             timed runs per row; the median is reported (default 5)
  --remote-runs N      timed runs of the push/pull rows (default: --runs, at most ${REMOTE_MAX_RUNS})
  --aws PATH           the aws CLI for the S3 baselines (default: \`which aws\`)
  --rows LIST          comma-separated rows to run (default: all; with --scale:
                       ${SCALE_ROWS.join(', ')}):
                       ${ROW_IDS.join(', ')}
  --dir DIR            work dir (default: ${path.join(os.tmpdir(), 'mlv-bench')})
  --keep               keep the work dir (the dataset is then reused by the next run)
  --json FILE          also write the results as JSON to FILE
  --quick              smoke-test preset: the small version of the shape, --runs 3
                       --remote-runs 1 (explicit options still win)
  --strict             exit 1 when a row FAILs its target (default: only on errors)
  -h, --help           show this help
`;

class RowError extends Error {}

// ---------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        shape: { type: 'string' },
        files: { type: 'string' },
        scale: { type: 'boolean' },
        'scale-sizes': { type: 'string' },
        'small-files': { type: 'string' },
        folders: { type: 'string' },
        'small-size': { type: 'string' },
        'large-files': { type: 'string' },
        'large-size-mib': { type: 'string' },
        runs: { type: 'string' },
        'remote-runs': { type: 'string' },
        aws: { type: 'string' },
        rows: { type: 'string' },
        dir: { type: 'string' },
        json: { type: 'string' },
        keep: { type: 'boolean' },
        quick: { type: 'boolean' },
        strict: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    usageError(err.message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const int = (name, min, def, quickDef) => {
    const raw = values[name];
    if (raw === undefined) return quick && quickDef !== undefined ? quickDef : def;
    return parseInt(name, raw, min);
  };
  const parseInt = (name, raw, min) => {
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) usageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const scale = values.scale === true;
  const shape = values.shape ?? (scale ? 'b' : 'a');
  if (!SHAPES.includes(shape)) usageError(`--shape must be one of ${SHAPES.join(', ')}, got ${JSON.stringify(shape)}`);
  if (scale && shape !== 'b') usageError('--scale runs shape b');
  const files = values.files === undefined ? undefined : parseInt('files', values.files, 1);
  let scaleSizes;
  if (values['scale-sizes'] !== undefined) {
    if (!scale) usageError('--scale-sizes needs --scale');
    scaleSizes = values['scale-sizes'].split(',').map((x) => parseInt('scale-sizes', x.trim(), 1));
  } else if (scale) {
    scaleSizes = quick ? SCALE_SIZES_QUICK : SCALE_SIZES;
  }
  if (scale && files !== undefined) usageError('--files and --scale exclude each other (use --scale-sizes)');
  const preset = shapePreset(shape, { quick, files });
  // npm run changes the working directory to the package root; INIT_CWD is where the user was.
  const userCwd = process.env.INIT_CWD ?? process.cwd();
  let rows = scale ? SCALE_ROWS : ROW_IDS;
  if (values.rows !== undefined) {
    rows = values.rows.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = rows.filter((r) => !ROW_IDS.includes(r));
    if (unknown.length || rows.length === 0) usageError(`unknown row(s) ${unknown.join(', ') || '(none given)'}; rows are: ${ROW_IDS.join(', ')}`);
    rows = ROW_IDS.filter((r) => rows.includes(r));
  }
  const runs = int('runs', 1, 5, 3);
  const dataset = {
    smallFiles: int('small-files', 0, preset.smallFiles),
    folders: int('folders', 1, preset.folders),
    depth: preset.depth,
    smallSize: int('small-size', 1, preset.smallSize),
    largeFiles: int('large-files', 0, preset.largeFiles),
    largeSizeMiB: int('large-size-mib', 1, preset.largeSizeMiB),
  };
  if (dataset.smallFiles + dataset.largeFiles === 0) usageError('the dataset would be empty');
  // --scale: shape b at each size, with the explicit dataset options applied on top.
  const explicit = Object.fromEntries(
    [['small-size', 'smallSize'], ['large-files', 'largeFiles'], ['large-size-mib', 'largeSizeMiB']].filter(([k]) => values[k] !== undefined).map(([k, f]) => [f, dataset[f]]),
  );
  const datasets = scale ? scaleSizes.map((n) => ({ ...shapePreset('b', { quick, files: n }), ...explicit })) : [dataset];
  return {
    shape,
    scale,
    datasets,
    runs,
    remoteRuns: int('remote-runs', 1, Math.min(runs, REMOTE_MAX_RUNS), 1),
    hasRemoteRows: rows.some((r) => ROWS[r].remote),
    // A bare name is looked up on PATH, anything with a slash is a path.
    aws: values.aws === undefined ? undefined : values.aws.includes('/') ? path.resolve(userCwd, values.aws) : values.aws,
    rows,
    dir: path.resolve(userCwd, values.dir ?? path.join(os.tmpdir(), 'mlv-bench')),
    json: values.json === undefined ? undefined : path.resolve(userCwd, values.json),
    keep: values.keep === true,
    strict: values.strict === true,
  };
}

function usageError(msg) {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// running mlv and the baselines

/**
 * timed(), and when a server process (s3rver) takes part, the CPU time it used meanwhile
 * (serverCpuSeconds), which is then not counted as disturbance by other processes.
 */
function timedWith(cmd, args, { cwd, env, server }) {
  const s0 = server?.cpuSeconds();
  const r = timed(cmd, args, { cwd, env });
  const s1 = server?.cpuSeconds();
  if (s0 !== undefined && s1 !== undefined) {
    r.serverCpuSeconds = s1 - s0;
    if (r.otherCpuSeconds !== undefined) r.otherCpuSeconds = Math.max(0, r.otherCpuSeconds - r.serverCpuSeconds);
  }
  return r;
}

/**
 * Runs mlv (timed) with MLV_STATS_FILE set; returns seconds, parsed --json output, peak RSS.
 * `env` replaces ctx.env (the S3 rows add credentials); `server` is sampled for its CPU time.
 */
function mlvTimed(ctx, args, cwd, tag, { env = ctx.env, server } = {}) {
  const statsFile = path.join(ctx.work.stats, `${tag}.json`);
  fs.rmSync(statsFile, { force: true });
  const r = timedWith(process.execPath, [ctx.mlvBin, ...args], { cwd, env: { ...env, MLV_STATS_FILE: statsFile }, server });
  noteDisturbance(ctx, r);
  const what = `mlv ${args.join(' ')}`;
  const bad = failureOf(r);
  if (bad) throw new RowError(`${what} failed: ${bad}${r.stdout.trim() ? `; stdout: ${r.stdout.trim().slice(0, 600).replace(/\s*\n\s*/g, ' ')}` : ''}`);
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new RowError(`${what}: stdout is not JSON: ${JSON.stringify(r.stdout.slice(0, 300))}`);
  }
  let peakBytes;
  try {
    peakBytes = JSON.parse(fs.readFileSync(statsFile, 'utf8')).maxRssKiB * 1024;
  } catch (err) {
    throw new RowError(`${what}: could not read peak memory from MLV_STATS_FILE (${err.message})`);
  }
  if (!Number.isFinite(peakBytes)) throw new RowError(`${what}: MLV_STATS_FILE has no maxRssKiB`);
  return { seconds: r.seconds, json, peakBytes, stderr: r.stderr, cmdCpuSeconds: r.cmdCpuSeconds, serverCpuSeconds: r.serverCpuSeconds };
}

/** Untimed mlv command (setup). */
function mlvRun(ctx, args, cwd, env = ctx.env) {
  return run(process.execPath, [ctx.mlvBin, ...args], { cwd, env });
}

/**
 * A timed baseline command; a failure is an error of the row. With GNU time installed the command
 * runs under `/usr/bin/time -f %M`, which gives its peak memory (r.peakBytes; the largest of the
 * command and the children it waited for) at the cost of one more fork and exec (~1 ms).
 */
function baseTimed(ctx, cmd, args, cwd, { env = ctx.env, server } = {}) {
  let statsFile;
  let [c, a] = [cmd, args];
  if (ctx.tools.time) {
    statsFile = path.join(ctx.work.stats, `base-${(ctx.baseSeq = (ctx.baseSeq ?? 0) + 1)}.txt`);
    [c, a] = [ctx.tools.time, ['-f', '%M', '-o', statsFile, cmd, ...args]];
  }
  const r = timedWith(c, a, { cwd, env, server });
  noteDisturbance(ctx, r);
  const bad = failureOf(r);
  if (bad) throw new RowError(`${cmd} ${args.join(' ')} failed: ${bad}`);
  if (statsFile) r.peakBytes = readTimePeak(statsFile);
  return r;
}

function recordBase(row, r) {
  row.baseline.runs.push(r.seconds);
  if (r.peakBytes !== undefined) row.baseline.peakBytes.push(r.peakBytes);
}

/**
 * Adds up wall time and the CPU time other processes used during timed commands: on a shared
 * machine, work running at the same time shows up here (and as noisy timings).
 */
function noteDisturbance(ctx, r) {
  if (r.otherCpuSeconds === undefined) return;
  for (const acc of [ctx.rows.at(-1)?.disturbance, ctx.disturbance]) {
    if (!acc) continue;
    acc.wall += r.seconds;
    acc.otherCpu += r.otherCpuSeconds;
  }
}

/** Average number of cores other processes kept busy while timed commands ran. */
const otherCores = (d) => (d && d.wall > 0 ? d.otherCpu / d.wall : undefined);

function recordMlv(row, r) {
  row.mlv.runs.push(r.seconds);
  row.mlv.peakBytes.push(r.peakBytes);
}

/** Alternate which side goes first so slow drift (writeback, other load) hits both equally. */
const order = (i) => (i % 2 === 0 ? ['mlv', 'base'] : ['base', 'mlv']);

const tick = () => new Promise((resolve) => setImmediate(resolve));

const fmt = (s) => s.toFixed(3);
const fmtMem = (b) => `${(b / MiB).toFixed(1)} MiB`;

/**
 * Copies the built CLI (bin/, dist/, package.json; node_modules linked) into the work dir and
 * returns its entry point, so a rebuild of dist/ while the benchmark runs cannot change the code
 * being measured halfway through.
 */
function snapshotMlv(dir) {
  rmTree(dir);
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return path.join(dir, 'bin', 'mlv.js');
}

function makeMlvRepo(ctx, dir) {
  fs.mkdirSync(dir, { recursive: true });
  run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env: ctx.env });
  mlvRun(ctx, ['init', '-q'], dir);
}

function addSummary(t) {
  if (!t) return 'no target in the output';
  return `status ${t.status}, ${t.hashedFiles} files hashed, ${t.files} files`;
}

/** The repository the add-noop, status and checkout rows work on: data already added. */
function ensurePrepared(ctx) {
  if (ctx.preparedReady) return;
  const dir = ctx.work.prepared;
  log('setup: mlv repository with the data added (add-noop, status, checkout rows)');
  rmTree(dir);
  makeMlvRepo(ctx, dir);
  copyTree(ctx.ds.dataDir, path.join(dir, 'data'), ctx.env);
  const r = mlvTimed(ctx, ['add', '--json', 'data'], dir, 'prepare-add');
  const t = r.json.targets?.[0];
  if (!t || t.hashedFiles !== ctx.ds.files || t.files !== ctx.ds.files) {
    throw new RowError(`setup: mlv add data gave an unexpected result (${addSummary(t)}, expected ${ctx.ds.files} files)`);
  }
  log(`setup: mlv add took ${fmt(r.seconds)} s`);
  ctx.preparedReady = true;
}

/** A plain Git repository with the same tree committed: the git status baseline. */
function ensureGitRepo(ctx) {
  if (ctx.gitRepoReady) return;
  const dir = ctx.work.gitrepo;
  const marker = path.join(dir, '.git', 'mlv-bench-dataset.json');
  const id = JSON.stringify(ctx.ds.spec);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === id) {
    const st = timed('git', ['status', '--porcelain'], { cwd: dir, env: ctx.env });
    if (!failureOf(st) && st.stdout.trim() === '') {
      log(`setup: reusing the git repository ${dir}`);
      ctx.gitRepoReady = true;
      return;
    }
  }
  log('setup: plain git repository with the data committed (git add + commit, once; this takes a while)');
  const t0 = elapsedSeconds();
  rmTree(dir);
  fs.mkdirSync(dir, { recursive: true });
  run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env: ctx.env });
  copyTree(ctx.ds.dataDir, path.join(dir, 'data'), ctx.env);
  run('git', ['add', 'data'], { cwd: dir, env: ctx.env });
  run('git', ['commit', '-q', '-m', 'bench data'], { cwd: dir, env: ctx.env });
  fs.writeFileSync(marker, id);
  log(`setup: git repository ready (${(elapsedSeconds() - t0).toFixed(1)} s)`);
  ctx.gitRepoReady = true;
}

// ---------------------------------------------------------------------------------------------
// rows

async function rowAddCold(ctx, row) {
  const { ds } = ctx;
  const runs = ctx.opts.runs;
  for (let i = 0; i < runs; i++) {
    await tick();
    const repo = path.join(ctx.work.scratch, `add-${i}`);
    const dest = path.join(ctx.work.scratch, `cp-${i}`);
    const data = path.join(repo, 'data');
    // Setup: fresh git repo + mlv init, data copied in, empty cache.
    makeMlvRepo(ctx, repo);
    copyTree(ds.dataDir, data, ctx.env);
    const sides = {
      mlv: () => {
        warmTree(data);
        syncFs();
        const r = mlvTimed(ctx, ['add', '--json', 'data'], repo, `add-cold-${i}`);
        recordMlv(row, r);
        const t = r.json.targets?.[0];
        if (!t || t.status !== 'added' || t.hashedFiles !== ds.files || t.files !== ds.files) {
          row.checks.push(`run ${i + 1}: expected status added with all ${ds.files} files hashed, got ${addSummary(t)}`);
        }
      },
      base: () => {
        warmTree(data);
        syncFs();
        const r = baseTimed(ctx, 'cp', ['-r', data, dest], ctx.work.scratch);
        recordBase(row, r);
        rmTree(dest);
      },
    };
    for (const side of order(i)) sides[side]();
    log(`add-cold run ${i + 1}/${runs}: mlv add ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))}), cp -r ${fmt(row.baseline.runs.at(-1))} s`);
    // The last repository becomes the prepared one (data added) for the following rows.
    if (i === runs - 1 && ctx.needPrepared && row.checks.length === 0 && !ctx.preparedReady) {
      rmTree(ctx.work.prepared);
      fs.renameSync(repo, ctx.work.prepared);
      ctx.preparedReady = true;
    } else {
      rmTree(repo);
    }
  }
}

async function rowAddNoop(ctx, row) {
  ensurePrepared(ctx);
  const hashed = [];
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    syncFs();
    const r = mlvTimed(ctx, ['add', '--json', 'data'], ctx.work.prepared, `add-noop-${i}`);
    recordMlv(row, r);
    const t = r.json.targets?.[0];
    hashed.push(t?.hashedFiles);
    if (!t || t.status !== 'unchanged' || t.hashedFiles !== 0) {
      row.checks.push(`run ${i + 1}: expected status unchanged with 0 files hashed, got ${addSummary(t)}`);
    }
    log(`add-noop run ${i + 1}/${ctx.opts.runs}: mlv add ${fmt(r.seconds)} s (${fmtMem(r.peakBytes)}), ${t?.hashedFiles} files hashed`);
  }
  row.notes.push(`files hashed per run: ${hashed.join(', ')}`);
}

/**
 * The files the status rows change: none, the sample file, or 1% of the files (every 100th, at
 * least one). The same paths (relative to the repository root) in the mlv and the Git repository.
 */
function changedFiles(ds, mode) {
  if (mode === 'clean') return [];
  if (mode === 'one') return [ds.sampleRel];
  const every = ds.rels.filter((_, i) => i % 100 === 0);
  return every.length ? every : [ds.rels[0]];
}

/** Appends a line to each file (a change both tools see); returns a function undoing it. */
function appendTo(repo, rels, text) {
  const sizes = rels.map((rel) => fs.statSync(path.join(repo, rel)).size);
  for (const rel of rels) fs.appendFileSync(path.join(repo, rel), text);
  return () => rels.forEach((rel, i) => fs.truncateSync(path.join(repo, rel), sizes[i]));
}

async function rowStatus(ctx, row, mode) {
  ensurePrepared(ctx);
  ensureGitRepo(ctx);
  const { ds } = ctx;
  const mlvRepo = ctx.work.prepared;
  const gitRepo = ctx.work.gitrepo;
  const rels = changedFiles(ds, mode);
  const n = rels.length;
  const tag = row.id;
  if (mode === 'pct') row.notes.push(`${n} of ${ds.files} files changed (a line appended to every 100th file)`);

  const checkMlv = (json, i, changed = n > 0) => {
    const t = json.targets?.[0];
    if (changed) {
      const c = t?.changes;
      if (!t || t.state !== 'modified' || !c || c.modified !== n || c.added !== 0 || c.deleted !== 0) {
        row.checks.push(`run ${i}: expected data modified with ${n} files modified, got ${JSON.stringify(t ? { state: t.state, changes: t.changes } : json)}`);
      }
    } else if (json.clean !== true) {
      row.checks.push(`run ${i}: expected clean, got ${JSON.stringify(json.targets?.map((x) => ({ path: x.path, state: x.state, changes: x.changes })))}`);
    }
  };
  const checkGit = (stdout, i, changed = n > 0) => {
    const modified = (stdout.match(/^\s+modified:/gm) ?? []).length;
    const ok = changed ? modified === n && stdout.includes(rels[0]) : stdout.includes('nothing to commit');
    if (!ok) throw new RowError(`git status (run ${i}) did not report what was expected (${changed ? `${n} modified` : 'clean'}): ${JSON.stringify(stdout.slice(0, 300))}`);
  };

  // One untimed warm-up run of each side on the unchanged tree (git refreshes its index, mlv its
  // stat cache).
  checkMlv(mlvTimed(ctx, ['status', '--json'], mlvRepo, `${tag}-warmup`).json, 'warm-up', false);
  checkGit(baseTimed(ctx, 'git', ['status'], gitRepo).stdout, 'warm-up', false);
  const undo = [];
  try {
    for (let i = 0; i < ctx.opts.runs; i++) {
      await tick();
      const sides = {
        mlv: () => {
          if (n) undo.push(appendTo(mlvRepo, rels, `appended by bench run ${i + 1}\n`));
          syncFs();
          const r = mlvTimed(ctx, ['status', '--json'], mlvRepo, `${tag}-${i}`);
          recordMlv(row, r);
          checkMlv(r.json, i + 1);
        },
        base: () => {
          if (n) undo.push(appendTo(gitRepo, rels, `appended by bench run ${i + 1}\n`));
          syncFs();
          const r = baseTimed(ctx, 'git', ['status'], gitRepo);
          recordBase(row, r);
          checkGit(r.stdout, i + 1);
        },
      };
      for (const side of order(i)) sides[side]();
      log(`${tag} run ${i + 1}/${ctx.opts.runs}: mlv status ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))}), git status ${fmt(row.baseline.runs.at(-1))} s`);
    }
  } finally {
    // Back to the dataset's content (the first appends of each repository are undone last).
    for (const u of undo.reverse()) u();
  }
}

async function rowCheckout(ctx, row) {
  ensurePrepared(ctx);
  const { ds } = ctx;
  const repo = ctx.work.prepared;
  const data = path.join(repo, 'data');
  const strategies = {};
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    const dest = path.join(ctx.work.scratch, `checkout-cp-${i}`);
    const sides = {
      mlv: () => {
        rmTree(data);
        warmTree(path.join(repo, '.mlv', 'cache'));
        syncFs();
        const r = mlvTimed(ctx, ['checkout', '--json', 'data'], repo, `checkout-${i}`);
        recordMlv(row, r);
        const j = r.json;
        for (const [k, v] of Object.entries(j.strategies ?? {})) strategies[k] = (strategies[k] ?? 0) + v;
        if (j.written !== ds.files || j.missing?.length || j.corrupt?.length) {
          row.checks.push(`run ${i + 1}: expected ${ds.files} files written, got written ${j.written}, missing ${j.missing?.length}, corrupt ${j.corrupt?.length}`);
        }
      },
      base: () => {
        warmTree(ds.dataDir);
        syncFs();
        const r = baseTimed(ctx, 'cp', ['-r', ds.dataDir, dest], ctx.work.scratch);
        recordBase(row, r);
        rmTree(dest);
      },
    };
    for (const side of order(i)) sides[side]();
    log(`checkout run ${i + 1}/${ctx.opts.runs}: mlv checkout ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))}), cp -r ${fmt(row.baseline.runs.at(-1))} s`);
  }
  row.notes.push(`files placed by: ${Object.entries(strategies).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing'} (over all runs)`);
  // The restored tree must be byte-for-byte the dataset.
  const diff = timed('diff', ['-rq', ds.dataDir, data], { cwd: ctx.work.root, env: ctx.env });
  if (diff.code !== 0) row.checks.push(`restored data differs from the dataset: ${(diff.stdout + diff.stderr).trim().split('\n').slice(0, 3).join('; ')}`);
  else row.notes.push('restored data verified identical to the dataset (diff -r)');
}

/**
 * Hashing end to end: every file's times are changed (content untouched), so `mlv status` must
 * read and hash all of them (from page cache) to find them unchanged; against sha256sum of the same
 * files, in GB/s of file content. The add-cold row's rate (which also writes the cache) is noted.
 */
async function rowHash(ctx, row) {
  const { ds } = ctx;
  const repo = path.join(ctx.work.scratch, 'hash');
  const data = path.join(repo, 'data');
  makeMlvRepo(ctx, repo);
  copyTree(ds.dataDir, data, ctx.env);
  const added = mlvRun(ctx, ['add', '-q', 'data'], repo);
  if (added.code !== 0) throw new RowError(`mlv add failed: ${added.stderr.trim()}`);
  let stamp = Date.now() / 1000 - 3600;
  const touchAll = () => {
    stamp += 1;
    for (const f of filesBelow(data)) fs.utimesSync(f, stamp, stamp);
  };
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    const sides = {
      mlv: () => {
        touchAll();
        warmTree(data);
        syncFs();
        const r = mlvTimed(ctx, ['status', '--json'], repo, `hash-${i}`);
        recordMlv(row, r);
        const t = r.json.targets?.[0];
        if (!t || t.state !== 'up-to-date') row.checks.push(`run ${i + 1}: expected data up to date after touching it, got ${JSON.stringify(t)?.slice(0, 200)}`);
      },
      base: () => {
        warmTree(ds.dataDir);
        syncFs();
        const r = baseTimed(ctx, 'find', ['data', '-type', 'f', '-exec', 'sha256sum', '{}', '+'], ctx.work.dataset);
        recordBase(row, r);
      },
    };
    for (const side of order(i)) sides[side]();
    log(`hash run ${i + 1}/${ctx.opts.runs}: mlv status (all files re-hashed) ${fmt(row.mlv.runs.at(-1))} s, sha256sum ${fmt(row.baseline.runs.at(-1))} s`);
  }
  rmTree(repo);
  const gbs = (xs) => (xs.length ? ds.bytes / median(xs) / 1e9 : undefined);
  row.details.throughputGBs = { mlv: gbs(row.mlv.runs) ?? null, sha256sum: gbs(row.baseline.runs) ?? null };
  const t = row.details.throughputGBs;
  const addCold = ctx.rows.find((r) => r.id === 'add-cold');
  const addRate = addCold?.mlv.runs.length ? ds.bytes / median(addCold.mlv.runs) / 1e9 : undefined;
  row.notes.push(
    `throughput over ${(ds.bytes / 1e9).toFixed(2)} GB: mlv status, every file re-hashed (read + BLAKE3, Node start included) ${t.mlv?.toFixed(2) ?? '—'} GB/s; ` +
      `sha256sum (read + SHA-256, one thread) ${t.sha256sum?.toFixed(2) ?? '—'} GB/s` +
      (addRate ? `; mlv add, cold cache (read + BLAKE3 + write into the cache) ${addRate.toFixed(2)} GB/s` : ''),
  );
  // The target is for large files (shape c); with many small files the rate is per-file bound.
  const largeFiles = ds.bytes / ds.files >= 64 * MiB;
  if (!largeFiles) row.notes.push(`the ${HASH_MIN_GBS} GB/s target applies to large files (shape c); this dataset averages ${(ds.bytes / ds.files / 1024).toFixed(0)} KiB per file`);
  else if (t.mlv !== undefined && t.mlv !== null && t.mlv < HASH_MIN_GBS) row.checks.push(`mlv hashed ${t.mlv.toFixed(2)} GB/s, under ${HASH_MIN_GBS} GB/s`);
}

// ---------------------------------------------------------------------------------------------
// push / pull rows: an S3 bucket on a local s3rver, or a folder remote on the same disk

/** Environment for mlv and the aws CLI against s3rver: the user's AWS_* settings replaced. */
function s3Env(env) {
  const out = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('AWS_')) out[k] = v;
  return Object.assign(out, {
    AWS_ACCESS_KEY_ID: 'S3RVER', // s3rver accepts only this key id (any secret)
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_DEFAULT_REGION: 'us-east-1',
    // Recent awscli v1 and v2 send CRC checksums with aws-chunked bodies by default, which s3rver
    // would store as data; only where the API requires them (older versions ignore these).
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
    // No pager, no prompts, no interference from a config file.
    AWS_PAGER: '',
    AWS_CONFIG_FILE: path.join(env.HOME, '.aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(env.HOME, '.aws', 'credentials'),
  });
}

/** Regular files below `dir` and their bytes (a folder remote, or a tree copied with cp -r). */
const treeStats = (dir) => countFiles(dir);

/**
 * The remote of the push/pull rows of one kind, set up on first use: the s3rver child process
 * (bucket mlv-bench) or a folder. Data of one run lives under its own prefix (sub-folder).
 */
async function ensureRemote(ctx, kind) {
  if (ctx.remotes[kind]) return ctx.remotes[kind];
  const { ds } = ctx;
  let remote;
  if (kind === 's3') {
    const dir = path.join(ctx.work.remotes, 's3rver');
    rmTree(dir);
    log('setup: starting s3rver (child process, node --openssl-legacy-provider)');
    const server = await startS3rver(dir, [S3_BUCKET]);
    ctx.servers.push(server);
    log(`setup: s3rver listening on ${server.endpoint} (pid ${server.pid}), data in ${dir}`);
    const prefixDir = (p) => s3rverPrefixDir(dir, S3_BUCKET, p);
    const env = s3Env(ctx.env);
    const awsArgs = ['--endpoint-url', server.endpoint, '--only-show-errors', '--no-progress'];
    remote = {
      kind,
      dir,
      env,
      server,
      prefixDir,
      url: (p) => `s3://${S3_BUCKET}/${p}`,
      prepare: () => {},
      stored: (p) => storedObjects(prefixDir(p)),
      remove: (p) => rmTree(prefixDir(p)),
      baseline: ctx.tools.aws
        ? {
            name: 'aws s3 sync',
            push: (p) => [ctx.tools.aws, ['s3', 'sync', ds.dataDir, `s3://${S3_BUCKET}/${p}`, ...awsArgs]],
            pull: (p, dest) => [ctx.tools.aws, ['s3', 'sync', `s3://${S3_BUCKET}/${p}`, dest, ...awsArgs]],
          }
        : null,
      missingBaseline: `the aws CLI was not found (${ctx.opts.aws ? `--aws ${ctx.opts.aws}` : '`which aws`'}): baseline skipped`,
    };
  } else {
    const dir = path.join(ctx.work.remotes, 'folder');
    rmTree(dir);
    fs.mkdirSync(dir, { recursive: true });
    const prefixDir = (p) => path.join(dir, p);
    remote = {
      kind,
      dir,
      env: ctx.env,
      server: undefined,
      prefixDir,
      url: (p) => prefixDir(p),
      prepare: (p) => fs.mkdirSync(prefixDir(p), { recursive: true }), // mlv wants the folder to exist
      stored: (p) => treeStats(prefixDir(p)),
      remove: (p) => rmTree(prefixDir(p)),
      baseline: {
        name: 'cp -r',
        push: (p) => ['cp', ['-r', ds.dataDir, prefixDir(p)]],
        pull: (p, dest) => ['cp', ['-r', prefixDir(p), dest]],
      },
    };
  }
  ctx.remotes[kind] = remote;
  return remote;
}

function assertServer(remote) {
  if (remote.server && !remote.server.alive()) {
    const err = remote.server.stderr().trim();
    throw new RowError(`s3rver (pid ${remote.server.pid}) is not running any more${err ? `: ${err.slice(-600)}` : ''}`);
  }
}

/** Points remote `origin` (the default) of `repo` at prefix `p` of the remote. */
function setOrigin(ctx, remote, repo, p) {
  remote.prepare(p);
  const r = timed(process.execPath, [ctx.mlvBin, 'remote', 'remove', '-q', 'origin'], { cwd: repo, env: ctx.env });
  if (r.code !== 0 && !/no remote named/i.test(r.stderr)) throw new Error(`mlv remote remove origin (in ${repo}): ${failureOf(r)}`);
  mlvRun(ctx, ['remote', 'add', '-q', '--default', 'origin', remote.url(p)], repo);
  if (remote.server) mlvRun(ctx, ['remote', 'modify', '-q', 'origin', 'endpoint', remote.server.endpoint], repo);
}

/**
 * The repository the push rows push from and the pull rows clone: a copy of the prepared
 * repository (without the workspace data, which push does not read) with the pointers committed,
 * so the prepared repository's pointers and config stay as the other rows expect them.
 */
function ensureOrigin(ctx) {
  const dir = ctx.work.origin;
  if (ctx.originReady) return dir;
  ensurePrepared(ctx);
  log('setup: copy of the prepared repository with the pointers committed (push/pull rows)');
  rmTree(dir);
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(ctx.work.prepared)) {
    if (name !== 'data') copyTree(path.join(ctx.work.prepared, name), path.join(dir, name), ctx.env);
  }
  run('git', ['add', '-A'], { cwd: dir, env: ctx.env });
  // --allow-empty: the diff and gc rows may have committed the pointers already
  run('git', ['commit', '-q', '--allow-empty', '-m', 'bench data (pointers)'], { cwd: dir, env: ctx.env });
  ctx.originReady = true;
  return dir;
}

/** Adds the CPU time of the timed command and of the server to the row's bookkeeping. */
function recordCpu(row, side, r) {
  row.cpu ??= { mlv: { wall: 0, cmd: 0, server: 0, n: 0 }, base: { wall: 0, cmd: 0, server: 0, n: 0 } };
  const c = row.cpu[side];
  c.wall += r.seconds;
  c.cmd += r.cmdCpuSeconds ?? NaN;
  c.server += r.serverCpuSeconds ?? 0;
  c.n++;
}

/** Notes on where the CPU time went while the remote rows were timed (is s3rver the bottleneck?). */
function cpuNotes(ctx, row, remote, mlvName, baseName) {
  if (!row.cpu) return;
  const parts = [];
  let serverBound = false;
  let machineBound = false;
  const total = { cpu: 0, wall: 0 };
  for (const [side, name] of [['mlv', mlvName], ['base', baseName]]) {
    const c = row.cpu[side];
    if (!c.n) continue;
    let text = `${name} used ${c.cmd.toFixed(1)} CPU-s in ${c.wall.toFixed(1)} s`;
    if (remote.server) {
      const busy = c.server / c.wall;
      text += `, s3rver ${c.server.toFixed(1)} CPU-s (${(busy * 100).toFixed(0)}% of one core)`;
      if (busy >= 0.85) serverBound = true;
    }
    parts.push(text);
    total.cpu += c.cmd + c.server;
    total.wall += c.wall;
  }
  // With what other processes used meanwhile: were all cores busy?
  const other = row.disturbance.wall > 0 ? row.disturbance.otherCpu / row.disturbance.wall : 0;
  const busyCores = total.wall > 0 ? total.cpu / total.wall + other : 0;
  if (busyCores >= 0.85 * CORES) machineBound = true;
  row.details.cpu = row.cpu;
  if (parts.length) row.notes.push(`CPU while timed (all runs): ${parts.join('; ')}`);
  if (serverBound) {
    row.notes.push('s3rver (single-threaded Node) was busy ≥ 85% of a core while timed: the server, not the client, is the bottleneck, and the ratio says little about real S3');
  }
  if (machineBound) {
    row.notes.push(
      `the client${remote.server ? ', s3rver' : ''} and other processes together kept ${busyCores.toFixed(1)} of ${CORES} cores busy on average: the timings are CPU-bound on this machine`,
    );
  }
}

async function rowPush(ctx, row, kind) {
  const { ds } = ctx;
  const remote = await ensureRemote(ctx, kind);
  const origin = ensureOrigin(ctx);
  const cache = path.join(origin, '.mlv', 'cache');
  const base = remote.baseline;
  if (!base) {
    row.baseline = null;
    row.baselineName = `${row.baselineName} (not installed)`;
    row.notes.push(remote.missingBaseline);
  }
  const runs = ctx.opts.remoteRuns;
  const mlvName = 'mlv push';
  let lastOk = { mlv: false, base: false };
  for (let i = 0; i < runs; i++) {
    await tick();
    assertServer(remote);
    const mlvP = `mlv-push-${i}`;
    const baseP = `base-push-${i}`;
    const ok = { mlv: false, base: false };
    const sides = {
      mlv: () => {
        setOrigin(ctx, remote, origin, mlvP);
        warmTree(cache);
        syncFs();
        const r = mlvTimed(ctx, ['push', '--json'], origin, `${row.id}-${i}`, { env: remote.env, server: remote.server });
        recordMlv(row, r);
        recordCpu(row, 'mlv', r);
        const j = r.json;
        const st = remote.stored(mlvP);
        const before = row.checks.length;
        if (!Array.isArray(j.failed) || j.failed.length !== 0) {
          row.checks.push(`run ${i + 1}: mlv push reported ${j.failed?.length ?? 'no'} failed transfers: ${JSON.stringify(j.failed?.slice(0, 3))}`);
        }
        if (j.skipped !== 0) row.checks.push(`run ${i + 1}: mlv push skipped ${j.skipped} objects on an empty prefix`);
        if (!(j.transferred >= ds.files) || st.objects !== j.transferred || st.bytes !== j.transferredBytes) {
          row.checks.push(`run ${i + 1}: mlv push reported ${j.transferred} objects (${j.transferredBytes} B) transferred, the remote holds ${st.objects} objects (${st.bytes} B); the dataset has ${ds.files} files`);
        }
        ok.mlv = row.checks.length === before;
        row.details.mlvPushed = { objects: j.transferred, bytes: j.transferredBytes };
      },
      base: () => {
        warmTree(ds.dataDir);
        syncFs();
        const [cmd, args] = base.push(baseP);
        const r = baseTimed(ctx, cmd, args, ctx.work.root, { env: remote.env, server: remote.server });
        recordBase(row, r);
        recordCpu(row, 'base', r);
        // The baseline must have stored the bytes (a checksum-framing mix-up would store more).
        const st = remote.stored(baseP);
        if (st.objects !== ds.files || st.bytes !== ds.bytes) {
          throw new RowError(`${base.name} (run ${i + 1}) stored ${st.objects} objects (${st.bytes} B), expected ${ds.files} (${ds.bytes} B): the baseline is not valid`);
        }
        ok.base = true;
      },
    };
    for (const side of order(i)) if (side === 'mlv' || base) sides[side]();
    log(
      `${row.id} run ${i + 1}/${runs}: mlv push ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))})` +
        (base ? `, ${base.name} ${fmt(row.baseline.runs.at(-1))} s` : ''),
    );
    if (i < runs - 1) {
      remote.remove(mlvP);
      remote.remove(baseP);
    } else {
      lastOk = ok;
    }
  }
  // What one push stored, then the last run's data seeds the pull row.
  const last = runs - 1;
  const mlvSt = remote.stored(`mlv-push-${last}`);
  const baseSt = base ? remote.stored(`base-push-${last}`) : undefined;
  const du = (p) => diskUsage(remote.prefixDir(p));
  row.details.stored = { mlv: { ...mlvSt, diskBytes: du(`mlv-push-${last}`) }, baseline: baseSt ? { ...baseSt, diskBytes: du(`base-push-${last}`) } : null };
  const where = kind === 's3' ? 's3rver' : 'the folder';
  const diskNote = (d) => (d.diskBytes !== undefined ? `, ${fmtMem(d.diskBytes)} on disk` : '');
  row.notes.push(
    `one push: mlv stored ${mlvSt.objects} objects (files + folder trees), ${fmtMem(mlvSt.bytes)}${diskNote(row.details.stored.mlv)} in ${where}` +
      (baseSt ? `; ${base.name} ${baseSt.objects} objects, ${fmtMem(baseSt.bytes)}${diskNote(row.details.stored.baseline)}` : '') +
      (kind === 's3' ? ' (s3rver keeps an .md5 and a metadata.json file next to each object)' : ''),
  );
  if (row.checks.length === 0) row.notes.push(`every mlv push reported 0 failed; the remote held exactly the objects and bytes it reported`);
  cpuNotes(ctx, row, remote, mlvName, base?.name);
  ctx.seeds[kind] ??= {};
  if (lastOk.mlv) ctx.seeds[kind].mlv = `mlv-push-${last}`;
  if (lastOk.base) ctx.seeds[kind].base = `base-push-${last}`;
}

/** The prefixes the pull row downloads from: the push row's last runs, else pushed now (untimed). */
function ensureSeeds(ctx, remote, origin) {
  const { ds } = ctx;
  const seeds = (ctx.seeds[remote.kind] ??= {});
  if (!seeds.mlv) {
    const p = 'mlv-seed';
    log(`setup: mlv push to ${remote.url(p)} (untimed; the pull row downloads it)`);
    setOrigin(ctx, remote, origin, p);
    const r = run(process.execPath, [ctx.mlvBin, 'push', '--json'], { cwd: origin, env: remote.env });
    const j = JSON.parse(r.stdout);
    if (j.failed?.length) throw new RowError(`setup: mlv push reported ${j.failed.length} failed transfers: ${JSON.stringify(j.failed.slice(0, 3))}`);
    seeds.mlv = p;
  }
  if (remote.baseline && !seeds.base) {
    const p = 'base-seed';
    log(`setup: ${remote.baseline.name} upload to ${p} (untimed; the baseline downloads it)`);
    const [cmd, args] = remote.baseline.push(p);
    run(cmd, args, { cwd: ctx.work.root, env: remote.env });
    const st = remote.stored(p);
    if (st.objects !== ds.files || st.bytes !== ds.bytes) {
      throw new RowError(`setup: ${remote.baseline.name} stored ${st.objects} objects (${st.bytes} B), expected ${ds.files} (${ds.bytes} B)`);
    }
    seeds.base = p;
  }
  return seeds;
}

/** `diff -rq a b`: undefined when identical, else the first differences. */
function treeDiff(ctx, a, b) {
  const d = timed('diff', ['-rq', a, b], { cwd: ctx.work.root, env: ctx.env });
  if (d.code === 0) return undefined;
  return (d.stdout + d.stderr).trim().split('\n').slice(0, 3).join('; ') || `diff exit code ${d.code}`;
}

async function rowPull(ctx, row, kind) {
  const { ds } = ctx;
  const remote = await ensureRemote(ctx, kind);
  const origin = ensureOrigin(ctx);
  const base = remote.baseline;
  if (!base) {
    row.baseline = null;
    row.baselineName = `${row.baselineName} (not installed)`;
    row.notes.push(remote.missingBaseline);
  }
  const seeds = ensureSeeds(ctx, remote, origin);
  row.notes.push(`downloads what ${seeds.mlv.startsWith('mlv-push') ? `the push-${kind} row's last run` : 'an untimed push'} stored`);
  const runs = ctx.opts.remoteRuns;
  const strategies = {};
  let verified = 0;
  for (let i = 0; i < runs; i++) {
    await tick();
    assertServer(remote);
    const clone = path.join(ctx.work.scratch, `${row.id}-clone-${i}`);
    const dest = path.join(ctx.work.scratch, `${row.id}-base-${i}`);
    // Setup: a fresh clone (its cache is empty: .mlv/cache is not in Git), remote pointed at the seed.
    run('git', ['clone', '-q', origin, clone], { cwd: ctx.work.scratch, env: ctx.env });
    if (treeStats(path.join(clone, '.mlv', 'cache')).objects !== 0) throw new RowError('setup: the clone has objects in its cache');
    setOrigin(ctx, remote, clone, seeds.mlv);
    const sides = {
      mlv: () => {
        warmTree(remote.prefixDir(seeds.mlv));
        syncFs();
        const r = mlvTimed(ctx, ['pull', '--json'], clone, `${row.id}-${i}`, { env: remote.env, server: remote.server });
        recordMlv(row, r);
        recordCpu(row, 'mlv', r);
        const f = r.json.fetch ?? {};
        const c = r.json.checkout ?? {};
        for (const [k, v] of Object.entries(c.strategies ?? {})) strategies[k] = (strategies[k] ?? 0) + v;
        if (!Array.isArray(f.failed) || f.failed.length !== 0) {
          row.checks.push(`run ${i + 1}: mlv pull reported ${f.failed?.length ?? 'no'} failed downloads: ${JSON.stringify(f.failed?.slice(0, 3))}`);
        }
        if (c.written !== ds.files || c.missing?.length || c.corrupt?.length) {
          row.checks.push(`run ${i + 1}: expected ${ds.files} files written, got written ${c.written}, missing ${c.missing?.length}, corrupt ${c.corrupt?.length}`);
        }
        row.details.mlvFetched = { objects: f.transferred, bytes: f.transferredBytes };
        const diff = treeDiff(ctx, ds.dataDir, path.join(clone, 'data'));
        if (diff) row.checks.push(`run ${i + 1}: pulled data differs from the dataset: ${diff}`);
        else verified++;
      },
      base: () => {
        warmTree(remote.prefixDir(seeds.base));
        syncFs();
        const [cmd, args] = base.pull(seeds.base, dest);
        const r = baseTimed(ctx, cmd, args, ctx.work.scratch, { env: remote.env, server: remote.server });
        recordBase(row, r);
        recordCpu(row, 'base', r);
        const diff = treeDiff(ctx, ds.dataDir, dest);
        if (diff) throw new RowError(`${base.name} (run ${i + 1}) downloaded data that differs from the dataset: ${diff}`);
        rmTree(dest);
      },
    };
    for (const side of order(i)) if (side === 'mlv' || base) sides[side]();
    log(
      `${row.id} run ${i + 1}/${runs}: mlv pull ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))})` +
        (base ? `, ${base.name} ${fmt(row.baseline.runs.at(-1))} s` : ''),
    );
    rmTree(clone);
  }
  row.notes.push(`files placed by: ${Object.entries(strategies).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing'} (over all runs)`);
  if (verified === runs) row.notes.push(`pulled data verified identical to the dataset (diff -r) in every run${base ? `; so was the ${base.name} download` : ''}`);
  cpuNotes(ctx, row, remote, 'mlv pull', base?.name);
  if (remote.server) {
    const total = diskUsage(remote.dir);
    row.details.s3rverDataDirBytes = total ?? null;
    if (total !== undefined) row.notes.push(`s3rver data dir: ${fmtMem(total)} on disk (the upload${base ? 's' : ''} this row downloads from)`);
  }
  // The seeds are not needed any more: free the disk space.
  for (const p of [seeds.mlv, seeds.base]) if (p) remote.remove(p);
  delete ctx.seeds[kind];
}

async function rowOtherTool(ctx, row, tool) {
  const program = tool === 'lfs' ? 'git-lfs' : 'git-annex';
  if (!ctx.tools[tool === 'lfs' ? 'gitLfs' : 'gitAnnex']) {
    row.skip = `${program} is not installed (\`which ${program}\` found nothing): skipped`;
    return;
  }
  const { ds } = ctx;
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    const repo = path.join(ctx.work.scratch, `${tool}-${i}`);
    fs.mkdirSync(repo, { recursive: true });
    run('git', ['init', '-q', '-b', 'main'], { cwd: repo, env: ctx.env });
    if (tool === 'lfs') {
      run('git', ['lfs', 'install', '--local'], { cwd: repo, env: ctx.env });
      run('git', ['lfs', 'track', 'data/**'], { cwd: repo, env: ctx.env });
      run('git', ['add', '.gitattributes'], { cwd: repo, env: ctx.env });
    } else {
      run('git', ['annex', 'init', 'mlv-bench'], { cwd: repo, env: ctx.env });
    }
    copyTree(ds.dataDir, path.join(repo, 'data'), ctx.env);
    warmTree(path.join(repo, 'data'));
    syncFs();
    const args = tool === 'lfs' ? ['add', 'data'] : ['annex', 'add', 'data'];
    const r = baseTimed(ctx, 'git', args, repo);
    recordBase(row, r);
    log(`${row.id} run ${i + 1}/${ctx.opts.runs}: git ${args.join(' ')} ${fmt(r.seconds)} s`);
    rmTree(repo);
  }
  const addCold = ctx.rows.find((r) => r.id === 'add-cold');
  if (addCold && addCold.mlv.runs.length > 0) {
    row.mlv = addCold.mlv;
    row.notes.push('mlv column: the add-cold measurement');
  } else {
    row.notes.push('mlv column empty: include add-cold in --rows to compare');
  }
}

// ---------------------------------------------------------------------------------------------
// results

const CORES = os.availableParallelism?.() ?? os.cpus().length;

function newRow(id) {
  const def = ROWS[id];
  return {
    id,
    title: def.title,
    bytes: def.bytes === true,
    baselineName: def.baseline,
    target: def.target,
    mlv: { runs: [], peakBytes: [] },
    baseline: def.baseline ? { runs: [], peakBytes: [] } : null,
    checks: [],
    notes: [],
    disturbance: { wall: 0, otherCpu: 0 },
    failures: [],
    details: {},
  };
}

function finalize(row) {
  const def = ROWS[row.id];
  row.mlv.median = median(row.mlv.runs);
  row.mlv.peakMiB = row.mlv.peakBytes.length ? Math.max(...row.mlv.peakBytes) / MiB : undefined;
  if (row.baseline) {
    row.baseline.median = median(row.baseline.runs);
    row.baseline.peakMiB = row.baseline.peakBytes?.length ? Math.max(...row.baseline.peakBytes) / MiB : undefined;
  }
  if (row.mlv.median !== undefined && row.baseline?.median) row.ratio = row.mlv.median / row.baseline.median;
  const other = otherCores(row.disturbance);
  if (other !== undefined && other >= 0.2) {
    row.notes.push(`while this row's commands were timed, other processes kept on average ${other.toFixed(2)} of ${CORES} cores busy: timings are disturbed`);
  }
  if (row.skip) {
    row.result = 'SKIP';
    row.notes.unshift(row.skip);
    return row;
  }
  if (def.info) {
    row.result = row.error ? 'ERROR' : 'info';
    return row;
  }
  row.failures.push(...row.checks);
  if (def.ratioLimit !== undefined && row.ratio !== undefined && row.ratio > def.ratioLimit) {
    row.failures.push(`mlv took ${row.ratio.toFixed(2)}× as long as the baseline (limit ${+def.ratioLimit.toFixed(3)}×)`);
  }
  const peak = row.mlv.peakBytes.length ? Math.max(...row.mlv.peakBytes) : undefined;
  if (peak !== undefined && peak >= MEM_LIMIT_BYTES) {
    row.failures.push(`peak memory ${(peak / MiB).toFixed(1)} MiB (${(peak / 1e6).toFixed(0)} MB) is not under 300 MB`);
  }
  row.result = row.error ? 'ERROR' : row.failures.length ? 'FAIL' : 'PASS';
  return row;
}

/** One session's results (one dataset) as JSON. */
function sessionJson(ctx) {
  return {
    dataset: { ...ctx.ds.spec, files: ctx.ds.files, bytes: ctx.ds.bytes },
    otherProcessesAvgCores: otherCores(ctx.disturbance) ?? null,
    loadAverage1m: ctx.loads,
    rows: ctx.rows.map((r) => ({
      id: r.id,
      title: r.title,
      result: r.result,
      target: r.target,
      mlv: {
        medianSeconds: r.mlv.median ?? null,
        seconds: r.mlv.runs,
        microsecondsPerFile: r.mlv.median === undefined ? null : (r.mlv.median / ctx.ds.files) * 1e6,
        peakMiB: r.mlv.peakMiB ?? null,
        peakBytes: r.mlv.peakBytes,
      },
      baseline: r.baseline
        ? {
            name: r.baselineName.replace(/`/g, ''),
            medianSeconds: r.baseline.median ?? null,
            seconds: r.baseline.runs,
            microsecondsPerFile: r.baseline.median === undefined ? null : (r.baseline.median / ctx.ds.files) * 1e6,
            peakMiB: r.baseline.peakMiB ?? null,
            peakBytes: r.baseline.peakBytes ?? [],
          }
        : null,
      ratio: r.ratio ?? null,
      otherProcessesAvgCores: otherCores(r.disturbance) ?? null,
      failures: r.failures,
      error: r.error ?? null,
      notes: r.notes,
      details: Object.keys(r.details).length ? r.details : undefined,
    })),
  };
}

function toJson(opts, machine, sessions, startedAt) {
  const all = { wall: 0, otherCpu: 0 };
  for (const c of sessions) {
    all.wall += c.disturbance.wall;
    all.otherCpu += c.disturbance.otherCpu;
  }
  const out = {
    benchmark: 'mlv',
    startedAt,
    durationSeconds: +elapsedSeconds().toFixed(1),
    machine,
    shape: opts.shape,
    scale: opts.scale,
    runs: opts.runs,
    remoteRuns: opts.hasRemoteRows ? opts.remoteRuns : null,
    otherProcessesAvgCores: otherCores(all) ?? null,
    targets: { addMaxRatioVsCp: ADD_MAX_RATIO, statusMaxRatioVsGit: STATUS_MAX_RATIO, pushPullMaxRatioVsAwsS3Sync: S3_MAX_RATIO, addMaxRatioVsGitLfs: LFS_MAX_RATIO, hashMinGBs: HASH_MIN_GBS, peakMemoryLimitBytes: MEM_LIMIT_BYTES },
  };
  // One dataset: its fields at the top level (as before --shape/--scale); --scale: one per size.
  if (opts.scale) out.sessions = sessions.map(sessionJson);
  else Object.assign(out, sessionJson(sessions[0]));
  return out;
}

// ---------------------------------------------------------------------------------------------
// main

/** GNU time, for the baselines' peak memory: /usr/bin/time when it understands -f %M -o. */
function gnuTime() {
  const r = timed('/usr/bin/time', ['-f', '%M', '-o', '/dev/null', 'true'], { cwd: os.tmpdir(), env: process.env });
  return failureOf(r) ? undefined : '/usr/bin/time';
}

class SpaceError extends Error {}

/** Throws a SpaceError when the work dir has too little space or too few inodes for a dataset (rough). */
function checkSpace(root, spec, opts) {
  const fp = footprint(spec);
  // dataset + prepared (data + cache) + git repo (data + objects) + one fresh repo + cache + cp copy;
  // push/pull rows: origin cache + 2 pushes kept + 2 being made (s3rver stores 3 files per object)
  // + a clone (cache + data) + a baseline download
  const factor = opts.hasRemoteRows ? 18 : 8;
  const needBytes = factor * fp.diskBytes;
  const needInodes = factor * (fp.files + fp.folders);
  let sfs;
  try {
    sfs = fs.statfsSync(root);
  } catch {
    return; // statfs unavailable: go ahead
  }
  const free = sfs.bavail * sfs.bsize;
  const df = timed('df', ['-h', root], { cwd: root, env: process.env }).stdout.trim().split('\n').at(-1);
  log(`disk: ${df}; the ${fp.files}-file dataset needs about ${(needBytes / 1024 ** 3).toFixed(1)} GiB and ${needInodes} inodes`);
  if (free < needBytes) {
    throw new SpaceError(`${root} has ${(free / 1024 ** 3).toFixed(1)} GiB free; about ${(needBytes / 1024 ** 3).toFixed(1)} GiB are needed. Use --dir elsewhere or a smaller dataset.`);
  }
  if (sfs.ffree > 0 && sfs.ffree < needInodes) {
    throw new SpaceError(`${root} has ${sfs.ffree} free inodes; about ${needInodes} are needed. Use --dir elsewhere or a smaller dataset.`);
  }
}

/** Runs the selected rows on one dataset; returns the session's ctx. */
async function runSession(base, datasetOpts, started = () => {}) {
  const { opts, work } = base;
  for (const p of [work.scratch, work.stats, work.prepared, work.origin, work.remotes]) rmTree(p);
  for (const p of [work.home, work.scratch, work.stats]) fs.mkdirSync(p, { recursive: true });
  const spec = datasetSpec(datasetOpts);
  checkSpace(work.root, spec, opts);
  const ctx = { ...base, rows: [], preparedReady: false, gitRepoReady: false, disturbance: { wall: 0, otherCpu: 0 }, loads: [] };
  started(ctx);
  Object.assign(ctx, { servers: base.servers, remotes: {}, seeds: {}, originReady: false, mlvHistoryReady: false, gitHistoryReady: false });
  ctx.needPrepared = opts.rows.some((id) => ROWS[id].needs.includes('prepared'));
  ctx.ds = ensureDataset(work.dataset, spec);
  for (const id of opts.rows) {
    const row = newRow(id);
    ctx.rows.push(row);
    log(`row ${id}: ${row.title}${row.baselineName ? ` vs ${row.baselineName.replace(/`/g, '')}` : ''}`);
    try {
      await ROWS[id].run(ctx, row);
    } catch (err) {
      row.error = err instanceof RowError ? err.message : `${err.stack ?? err}`;
      log(`row ${id}: ERROR: ${row.error}`);
    }
    finalize(row);
    // Nothing of a row survives in scratch/ (disk space).
    rmTree(work.scratch);
    fs.mkdirSync(work.scratch, { recursive: true });
    ctx.loads.push(+os.loadavg()[0].toFixed(2));
    log(`row ${id}: ${row.result} (load average ${os.loadavg()[0].toFixed(2)})`);
  }
  return ctx;
}

let reportPartial;

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench: dist/ is missing; build first (npm run bench builds, or: npx tsc -p .)\n');
    process.exit(2);
  }
  const createdWorkDir = !fs.existsSync(opts.dir);
  const root = opts.dir;
  const work = {
    root,
    dataset: path.join(root, 'dataset'),
    home: path.join(root, 'home'),
    scratch: path.join(root, 'scratch'),
    stats: path.join(root, 'stats'),
    prepared: path.join(root, 'prepared'),
    gitrepo: path.join(root, 'gitrepo'),
    mlv: path.join(root, 'mlv'),
    // push/pull rows: s3rver's data, the folder remote, and the repository pushed from / cloned
    origin: path.join(root, 'origin'),
    remotes: path.join(root, 'remotes'),
  };
  const ours = [work.dataset, work.home, work.scratch, work.stats, work.prepared, work.gitrepo, work.mlv, work.origin, work.remotes];
  const servers = [];
  const stopServers = () => {
    for (const s of servers.splice(0)) s.stop();
  };
  let cleanedUp = false;
  const cleanup = () => {
    if (cleanedUp) return;
    cleanedUp = true;
    stopServers();
    rmTree(work.scratch);
    // Nothing of the push/pull rows is reusable.
    rmTree(work.origin);
    rmTree(work.remotes);
    if (opts.keep) {
      log(`keeping the work dir ${root} (--keep)`);
      return;
    }
    log(`removing the work dir ${root}`);
    if (createdWorkDir) rmTree(root);
    else {
      // A --dir that existed before: remove only what the benchmark put there.
      for (const p of ours) rmTree(p);
      try {
        fs.rmdirSync(root);
      } catch {
        // not empty: other content, left alone
      }
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      log(`${sig}: stopping`);
      try {
        reportPartial?.(sig);
      } catch (err) {
        log(`could not write the partial report: ${err.message}`);
      }
      try {
        cleanup();
      } finally {
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
    });
  }

  fs.mkdirSync(root, { recursive: true });
  const env = makeEnv(work.home);
  const tools = { gitLfs: which('git-lfs'), gitAnnex: which('git-annex'), time: gnuTime() };
  if (opts.rows.some((id) => ROWS[id].remote === 's3')) {
    tools.aws = opts.aws === undefined ? which('aws') : opts.aws.includes('/') ? (fs.existsSync(opts.aws) ? opts.aws : undefined) : which(opts.aws);
    tools.rclone = which('rclone');
  }
  const mlvBin = snapshotMlv(work.mlv);
  const machine = machineInfo(root, { repoRoot: ROOT, env, tools });
  const m = machine;
  const loadStart = os.loadavg()[0];
  log(`machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, work dir on ${m.fsType}; load average ${loadStart.toFixed(2)}`);
  log(`shape ${opts.shape}${opts.scale ? ` at ${opts.datasets.map((d) => d.smallFiles).join(', ')} files` : ''}; rows: ${opts.rows.join(', ')}; ${opts.runs} runs each${opts.hasRemoteRows ? ` (push/pull rows: ${opts.remoteRuns})` : ''}`);
  const base = { opts, work, env, tools, mlvBin, machine, servers, h: HELPERS };

  let exitCode = 0;
  const sessions = [];
  let current; // the session running now
  /** The Markdown report on stdout (and the JSON file); `interrupted`: what finished so far. */
  const writeReport = (done, interrupted) => {
    const all = { wall: 0, otherCpu: 0 };
    for (const c of done) {
      all.wall += c.disturbance.wall;
      all.otherCpu += c.disturbance.otherCpu;
    }
    const loads = done.flatMap((c) => c.loads);
    const load = { start: loadStart, min: Math.min(...loads), max: Math.max(...loads) };
    const md = [`# mlv benchmark (${startedAt})`, '', renderMachine(m, opts, otherCores(all), loads.length ? load : undefined), ''];
    if (interrupted) md.push(`**Interrupted (${interrupted}): only the rows that finished are reported.**`, '');
    for (const c of done) {
      const title = opts.scale ? `## Shape b, ${c.ds.files.toLocaleString('en-US')} files` : `## Results (shape ${opts.shape})`;
      md.push(renderResults(c.rows, c.ds, title), '');
    }
    if (opts.scale && done.length > 1) md.push(renderScale(done), '');
    process.stdout.write(md.join('\n'));
    if (opts.json) {
      fs.mkdirSync(path.dirname(opts.json), { recursive: true });
      fs.writeFileSync(opts.json, JSON.stringify({ ...toJson(opts, machine, done, startedAt), interrupted: interrupted ?? undefined }, null, 2) + '\n');
      log(`wrote ${opts.json}`);
    }
  };
  /** On Ctrl-C / SIGTERM: report the rows that finished (of the finished sessions and the current one). */
  reportPartial = (sig) => {
    const done = [...sessions];
    if (current && !sessions.includes(current)) {
      const rows = current.rows.filter((r) => r.result !== undefined);
      if (rows.length) done.push({ ...current, rows });
    }
    if (done.length) writeReport(done, sig);
  };
  try {
    for (const d of opts.datasets) {
      if (opts.scale) log(`scale: shape b with ${d.smallFiles} files`);
      let ctx;
      try {
        ctx = await runSession(base, d, (c) => (current = c));
      } catch (err) {
        if (!(err instanceof SpaceError)) throw err;
        process.stderr.write(`bench: ${err.message}\n`);
        exitCode = 2;
        break;
      }
      sessions.push(ctx);
      stopServers();
      // Between sizes, drop what the next size rebuilds anyway (disk space).
      if (opts.scale && d !== opts.datasets.at(-1)) for (const p of [work.prepared, work.gitrepo, work.origin, work.remotes]) rmTree(p);
    }

    if (sessions.length === 0) {
      process.exitCode = exitCode;
      return;
    }
    writeReport(sessions);
    const rows = sessions.flatMap((c) => c.rows);
    if (exitCode) {
      // a dataset did not fit: what ran is reported above
    } else if (rows.some((r) => r.result === 'ERROR')) exitCode = 1;
    else if (opts.strict && rows.some((r) => r.result === 'FAIL')) exitCode = 1;
  } finally {
    cleanup();
  }
  log(`done in ${elapsedSeconds().toFixed(0)} s`);
  process.exitCode = exitCode;
}

/** What the row modules in lib/ use from this file (they get it as ctx.h). */
const HELPERS = {
  RowError,
  S3_BUCKET,
  mlvTimed,
  mlvRun,
  baseTimed,
  untimed: (cmd, args, cwd, env) => run(cmd, args, { cwd, env }),
  recordMlv,
  recordBase,
  recordCpu,
  cpuNotes,
  ensurePrepared,
  ensureGitRepo,
  ensureRemote,
  assertServer,
  treeDiff,
  order,
  tick,
  fmt,
  fmtMem,
};

await main();
