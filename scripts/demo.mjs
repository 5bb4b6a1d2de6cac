#!/usr/bin/env node
// `npm run demo`: the daily mlv loop end to end in a throw-away Git repository with generated data.
// Every step prints the command it runs and what mlv answered. Pass --keep to keep the folder.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mlvBin = path.join(root, 'bin', 'mlv.js');
const keep = process.argv.includes('--keep');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-demo-'));
const repo = path.join(work, 'project');
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 'mlv demo',
  GIT_AUTHOR_EMAIL: 'demo@example.invalid',
  GIT_COMMITTER_NAME: 'mlv demo',
  GIT_COMMITTER_EMAIL: 'demo@example.invalid',
};

let step = 0;
function title(text) {
  process.stdout.write(`\n\x1b[1m${++step}. ${text}\x1b[0m\n`);
}
let cwd = repo;
function run(cmd, args, { expectFail = false } = {}) {
  const shown = cmd === process.execPath ? ['mlv', ...args.slice(1)] : [cmd, ...args];
  process.stdout.write(`${cwd === repo ? '' : '[colleague] '}$ ${shown.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  const out = (r.stdout + r.stderr).trimEnd();
  if (out) process.stdout.write(out.replace(/^/gm, '  ') + '\n');
  if ((r.status !== 0) !== expectFail) {
    process.stdout.write(`demo failed: exit code ${r.status}\n`);
    process.exit(1);
  }
  return r;
}
const mlv = (...args) => run(process.execPath, [mlvBin, ...args]);
const mlvFails = (...args) => run(process.execPath, [mlvBin, ...args], { expectFail: true });
const git = (...args) => run('git', args);

function write(rel, data) {
  fs.mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
  fs.writeFileSync(path.join(repo, rel), data);
}
function check(condition, message) {
  if (!condition) {
    process.stdout.write(`demo failed: ${message}\n`);
    process.exit(1);
  }
  process.stdout.write(`  ok: ${message}\n`);
}

try {
  fs.mkdirSync(repo);
  title('A Git repository with a dataset (300 CSV files in 3 splits) and a 32 MB model');
  git('init', '-q', '-b', 'main');
  for (const split of ['train', 'val', 'test']) {
    for (let i = 0; i < 100; i++) write(`data/${split}/part-${String(i).padStart(3, '0')}.csv`, `id,x,y\n${randomBytes(600).toString('hex')}\n`);
  }
  write('models/model.bin', randomBytes(32 * 1024 * 1024));
  write('train.py', 'print("training")\n');
  process.stdout.write(`  created ${repo}\n`);

  title('mlv init: set up .mlv/ in the repository');
  mlv('init');

  title('mlv add: hash the data into the cache, write pointer files, keep the data out of Git');
  mlv('add', 'data');
  mlv('add', 'models/model.bin', '-d', 'baseline model, 32 MB');
  run('cat', ['data.mlv']);
  git('add', 'train.py');
  git('commit', '-qm', 'v1: dataset and model');
  git('tag', 'v1');
  const v1Model = fs.readFileSync(path.join(repo, 'models/model.bin'));
  const v1Csv = fs.readFileSync(path.join(repo, 'data/train/part-000.csv'));

  title('Change the data: edit a file, add one, delete one');
  write('data/train/part-000.csv', 'id,x,y\n1,2,3\n');
  write('data/train/part-100.csv', 'id,x,y\n4,5,6\n');
  fs.rmSync(path.join(repo, 'data/val/part-050.csv'));
  mlv('status', '-v');

  title('mlv add again: only the changed file is hashed; commit v2');
  mlv('add', 'data');
  git('commit', '-qm', 'v2: cleaned training data');

  title('Go back to v1 with Git; mlv checkout restores its data from the cache');
  git('checkout', '-q', 'HEAD~1');
  mlv('status');
  mlv('checkout');
  check(fs.readFileSync(path.join(repo, 'data/train/part-000.csv')).equals(v1Csv), 'data/train/part-000.csv has its v1 bytes again');
  check(!fs.existsSync(path.join(repo, 'data/train/part-100.csv')), 'the file added in v2 is gone');
  check(fs.existsSync(path.join(repo, 'data/val/part-050.csv')), 'the file deleted in v2 is back');
  check(fs.readFileSync(path.join(repo, 'models/model.bin')).equals(v1Model), 'the model is bit-for-bit v1');

  title('Back to the latest commit');
  git('checkout', '-q', 'main');
  mlv('checkout');
  mlv('status');

  title('Share it: a folder remote (any S3-compatible bucket works the same way), then push');
  mlv('remote', 'add', '--default', 'origin', '../remote-store');
  fs.mkdirSync(path.join(work, 'remote-store'));
  git('add', '.mlv/config');
  git('commit', '-qm', 'add the team remote');
  mlv('push');
  mlv('status', '--remote');

  title('A colleague clones the Git repository and pulls the data');
  const colleague = path.join(work, 'colleague');
  run('git', ['clone', '-q', repo, colleague]);
  cwd = colleague;
  mlv('pull');
  const same = (rel) => fs.readFileSync(path.join(repo, rel)).equals(fs.readFileSync(path.join(colleague, rel)));
  check(same('models/model.bin') && same('data/train/part-000.csv') && same('data/test/part-099.csv'), 'the colleague has the same bytes');

  title('The colleague improves the model and pushes; we pull it');
  fs.writeFileSync(path.join(colleague, 'models/model.bin'), randomBytes(1024 * 1024));
  mlv('add', 'models/model.bin');
  git('commit', '-qm', 'v3: retrained model');
  mlv('push');
  cwd = repo;
  git('pull', '-q', '--no-rebase', colleague, 'main');
  mlv('pull');
  check(fs.readFileSync(path.join(repo, 'models/model.bin')).equals(fs.readFileSync(path.join(colleague, 'models/model.bin'))), 'we have the colleague\'s model, bit for bit');

  title('Any commit, bit for bit: list, compare, get and export v1 without touching the workspace');
  mlv('ls', '--rev', 'v1');
  mlv('diff', 'v1', 'HEAD');
  const v1Dir = path.join(work, 'data-v1');
  mlv('get', 'data', '--rev', 'v1', '-o', v1Dir);
  check(fs.readFileSync(path.join(v1Dir, 'train/part-000.csv')).equals(v1Csv), 'mlv get wrote v1 of data/ outside the workspace');
  mlv('export', 'data', 'models', '--rev', 'v1', '-o', path.join(work, 'v1-a.tar'));
  mlv('export', 'data', 'models', '--rev', 'v1', '-o', path.join(work, 'v1-b.tar'));
  check(fs.readFileSync(path.join(work, 'v1-a.tar')).equals(fs.readFileSync(path.join(work, 'v1-b.tar'))), 'two exports of v1 are byte-identical');

  title('Git hooks: git checkout brings the data along');
  mlv('install-hooks');
  git('checkout', '-q', 'v1');
  check(fs.readFileSync(path.join(repo, 'models/model.bin')).equals(v1Model), 'after git checkout v1, the model is v1 without running mlv');
  git('checkout', '-q', 'main');
  check(!fs.readFileSync(path.join(repo, 'models/model.bin')).equals(v1Model), 'back on main, the newest model is back');

  title('Housekeeping: verify every object, see what gc would remove');
  mlv('fsck');
  mlv('gc', '--all-commits', '--grace', '0', '--dry-run');

  title('Safety: checkout never overwrites unsaved work');
  write('data/test/part-000.csv', 'unsaved experiment\n');
  mlvFails('checkout', 'data');
  mlv('checkout', '--force', 'data');
  check(fs.readFileSync(path.join(repo, 'data/test/part-000.csv'), 'utf8') !== 'unsaved experiment\n', 'the tracked version is restored');

  process.stdout.write('\n\x1b[1mDemo finished: init, add, commit, change, status, checkout, push, clone, pull, ls, diff, get, export, hooks, fsck and gc all worked.\x1b[0m\n');
} finally {
  if (keep) process.stdout.write(`kept ${work}\n`);
  else fs.rmSync(work, { recursive: true, force: true });
}
