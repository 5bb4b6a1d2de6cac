import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { CONFIG_KEYS, Config, DEFAULT_LINK, validateConfigValue } from '../../dist/workspace/config.js';
import { ConfigFile, splitKey } from '../../dist/workspace/config-file.js';

const FILE = '/repo/.mlv/config';

const SAMPLE = [
  '# mlv configuration',
  '; another comment style',
  '',
  '[core]',
  '\tlink = reflink,copy   # inline comment',
  '    jobs=4',
  '\t# a comment inside core',
  '\tautostage = "false"',
  '',
  '[remote "origin"]',
  '\turl = s3://bucket/path',
  '\tregion = "eu west \\"1\\" \\\\ \\n \\t end"',
  '',
  '[remote "with.dot"]',
  '\turl = https://example.invalid/x;y',
  '# trailing comment',
].join('\n') + '\n';

function configError(text: string, file = FILE): MlvError {
  try {
    ConfigFile.parse(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(MlvError);
    return err as MlvError;
  }
  throw new Error(`expected config to be rejected: ${JSON.stringify(text)}`);
}
function expectInvalid(text: string, line: number, fragment: string, file = FILE): void {
  const err = configError(text, file);
  expect(err.code).toBe('INVALID_CONFIG');
  expect(err.message.startsWith(`${file}:${line}: `)).toBe(true);
  expect(err.message).toContain(fragment);
  expect(err.details).toEqual({ file, line });
}

describe('ConfigFile parsing and reading', () => {
  it('reads keys, subsections, quoted values and inline comments', () => {
    const c = ConfigFile.parse(SAMPLE, FILE);
    expect(c.get('core.link')).toBe('reflink,copy');
    expect(c.get('core.jobs')).toBe('4');
    expect(c.get('core.autostage')).toBe('false');
    expect(c.get('remote.origin.url')).toBe('s3://bucket/path');
    expect(c.get('remote.origin.region')).toBe('eu west "1" \\ \n \t end');
    expect(c.get('remote.with.dot.url')).toBe('https://example.invalid/x;y');
    expect(c.get('core.missing')).toBeUndefined();
    expect(c.get('remote.other.url')).toBeUndefined();
    expect(c.entries()).toEqual([
      ['core.link', 'reflink,copy'],
      ['core.jobs', '4'],
      ['core.autostage', 'false'],
      ['remote.origin.url', 's3://bucket/path'],
      ['remote.origin.region', 'eu west "1" \\ \n \t end'],
      ['remote.with.dot.url', 'https://example.invalid/x;y'],
    ]);
  });

  it('reproduces the text exactly when nothing is changed', () => {
    expect(ConfigFile.parse(SAMPLE, FILE).toString()).toBe(SAMPLE);
    expect(ConfigFile.parse('', FILE).toString()).toBe('');
    expect(ConfigFile.parse('\n\n', FILE).toString()).toBe('\n\n');
  });

  it('adds a final newline to a file without one', () => {
    expect(ConfigFile.parse('[core]\n\tjobs = 2', FILE).toString()).toBe('[core]\n\tjobs = 2\n');
  });

  it('unescapes subsection names', () => {
    const c = ConfigFile.parse('[remote "a\\"b\\\\c"]\n\turl = x\n', FILE);
    expect(c.get('remote.a"b\\c.url')).toBe('x');
  });

  it('keeps = signs and # inside values', () => {
    const c = ConfigFile.parse('[core]\n\ta = b=c\n\tb = x#y\n\tc = "p # q ; r"\n', FILE);
    expect(c.get('core.a')).toBe('b=c');
    expect(c.get('core.b')).toBe('x#y');
    expect(c.get('core.c')).toBe('p # q ; r');
  });

  it('load() of a missing file is an empty configuration', () => {
    const c = ConfigFile.load(path.join(os.tmpdir(), `mlv-no-such-config-${process.pid}-${Date.now()}`));
    expect(c.entries()).toEqual([]);
    expect(c.toString()).toBe('');
  });
});

describe('ConfigFile strict errors', () => {
  it.each([
    ['an unclosed header', '[core\n', 1],
    ['an upper-case section', '[Core]\n', 1],
    ['a section starting with a digit', '[1core]\n', 1],
    ['an unquoted subsection', '[remote origin]\n', 1],
    ['an empty subsection', '[remote ""]\n', 1],
    ['a single-quoted subsection', "[remote 'origin']\n", 1],
    ['a comment after the header', '[core] # main\n', 1],
    ['a dotted section', '[remote.origin]\n', 1],
    ['an empty header', '[]\n', 1],
    ['a later bad header', '[core]\n\tjobs = 1\n[remote "x"\n', 3],
  ])('rejects %s', (_label, text, line) => {
    expectInvalid(text, line, 'malformed section header');
  });

  it('rejects duplicate keys, also across repeated sections', () => {
    expectInvalid('[core]\n\tjobs = 1\n\tjobs = 2\n', 3, 'duplicate key core.jobs');
    expectInvalid('[core]\n\tjobs = 1\n[remote "o"]\n\turl = x\n[core]\n\tjobs = 2\n', 6, 'duplicate key core.jobs');
    expectInvalid('[remote "o"]\n\turl = x\n\n[remote "o"]\n\turl = y\n', 5, 'duplicate key remote.o.url');
  });

  it('allows the same key name in different sections and repeated sections with different keys', () => {
    const c = ConfigFile.parse('[remote "a"]\n\turl = 1\n[remote "b"]\n\turl = 2\n[remote "a"]\n\tregion = r\n', FILE);
    expect(c.get('remote.a.url')).toBe('1');
    expect(c.get('remote.b.url')).toBe('2');
    expect(c.get('remote.a.region')).toBe('r');
  });

  it('rejects a key outside of any section', () => {
    expectInvalid('# header comment\njobs = 1\n[core]\n', 2, 'key outside of any [section]');
  });

  it('rejects CRLF line endings', () => {
    expectInvalid('[core]\r\n\tjobs = 1\r\n', 1, 'carriage return');
    expectInvalid('[core]\n\tjobs = 1\r\n', 2, 'carriage return');
    expectInvalid('# comment\r\n', 1, 'carriage return');
  });

  it('rejects a byte-order mark and NUL bytes', () => {
    expectInvalid('\uFEFF[core]\n', 1, 'byte-order mark');
    expectInvalid('[core]\n\tjobs = 1\u0000\n', 1, 'NUL');
  });

  it.each([
    ['no equals sign', '[core]\n\tjobs\n'],
    ['an upper-case key', '[core]\n\tJobs = 1\n'],
    ['a dash in the key', '[core]\n\tlock-timeout = 1\n'],
    ['a key starting with a digit', '[core]\n\t1jobs = 1\n'],
    ['garbage', '[core]\n\t= 1\n'],
  ])('rejects a line with %s', (_label, text) => {
    expectInvalid(text, 2, 'expected "key = value"');
  });

  it.each([
    ['an unclosed quote', '\tlink = "copy'],
    ['text after the closing quote', '\tlink = "copy" # comment'],
    ['an unknown escape', '\tlink = "co\\py"'],
    ['a trailing backslash', '\tlink = "copy\\"'],
  ])('rejects a quoted value with %s', (_label, l) => {
    expectInvalid(`[core]\n${l}\n`, 2, 'core.link: malformed quoted value');
  });

  it('rejects quotes and backslashes in an unquoted value', () => {
    expectInvalid('[core]\n\tlink = co"py\n', 2, 'core.link: quotes and backslashes need a quoted value');
    expectInvalid('[core]\n\tlink = C:\\path\n', 2, 'quotes and backslashes');
  });

  it('load() names the real file in errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-config-'));
    try {
      const file = path.join(dir, 'config');
      fs.writeFileSync(file, '[core]\n\tjobs = 1\n\tjobs = 1\n');
      expect(() => ConfigFile.load(file)).toThrow(`${file}:3: duplicate key core.jobs`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ConfigFile editing preserves comments and layout', () => {
  it('set() replaces a value in place, keeping every other line byte for byte', () => {
    const c = ConfigFile.parse(SAMPLE, FILE);
    c.set('core.jobs', '8');
    const out = c.toString();
    expect(out).toBe(SAMPLE.replace('    jobs=4', '\tjobs = 8'));
    expect(ConfigFile.parse(out, FILE).get('core.jobs')).toBe('8');
  });

  it('set() appends a new key after the last key of its section, before trailing comments', () => {
    const c = ConfigFile.parse(SAMPLE, FILE);
    c.set('core.lock_timeout', '5');
    c.set('remote.origin.profile', 'dev');
    const lines = c.toString().split('\n');
    expect(lines[lines.indexOf('\tautostage = "false"') + 1]).toBe('\tlock_timeout = 5');
    expect(lines[lines.indexOf('\tregion = "eu west \\"1\\" \\\\ \\n \\t end"') + 1]).toBe('\tprofile = dev');
    for (const comment of ['# mlv configuration', '; another comment style', '\t# a comment inside core', '# trailing comment']) {
      expect(lines).toContain(comment);
    }
    const again = ConfigFile.parse(c.toString(), FILE);
    expect(again.get('core.lock_timeout')).toBe('5');
    expect(again.get('remote.origin.profile')).toBe('dev');
    expect(again.get('remote.origin.url')).toBe('s3://bucket/path');
  });

  it('set() creates missing sections and subsections at the end, escaping the subsection name', () => {
    const c = ConfigFile.parse('# only a comment\n', FILE);
    c.set('core.link', 'copy');
    c.set('remote.my "best" \\ one.url', 's3://b');
    expect(c.toString()).toBe('# only a comment\n[core]\n\tlink = copy\n[remote "my \\"best\\" \\\\ one"]\n\turl = s3://b\n');
    const again = ConfigFile.parse(c.toString(), FILE);
    expect(again.get('remote.my "best" \\ one.url')).toBe('s3://b');
  });

  it('set() into a section that has only a header inserts right after the header', () => {
    const c = ConfigFile.parse('[core]\n# about core\n[remote "o"]\n\turl = u\n', FILE);
    c.set('core.jobs', '3');
    expect(c.toString()).toBe('[core]\n\tjobs = 3\n# about core\n[remote "o"]\n\turl = u\n');
  });

  it.each([
    ['a plain word', 'copy', 'copy'],
    ['inner spaces', 'a  b c', 'a  b c'],
    ['the empty string', '', '""'],
    ['leading whitespace', ' x', '" x"'],
    ['trailing whitespace', 'x ', '"x "'],
    ['a hash', 'a#b', '"a#b"'],
    ['a semicolon', 'a;b', '"a;b"'],
    ['quotes', 'say "hi"', '"say \\"hi\\""'],
    ['a backslash', 'C:\\dir', '"C:\\\\dir"'],
    ['a newline', 'a\nb', '"a\\nb"'],
    ['a tab', 'a\tb', '"a\\tb"'],
    ['unicode', 'ünï 😀', 'ünï 😀'],
  ])('set() writes and reads back a value with %s', (_label, value, written) => {
    const c = ConfigFile.parse('[core]\n', FILE);
    c.set('core.value', value);
    expect(c.toString()).toBe(`[core]\n\tvalue = ${written}\n`);
    expect(c.get('core.value')).toBe(value);
    expect(ConfigFile.parse(c.toString(), FILE).get('core.value')).toBe(value);
  });

  // Regression (fixed): formatValue() leaves CR (and U+2028 / U+2029, NUL) unquoted and unescaped, so set() writes
  // a file that ConfigFile.parse() rejects. Reachable from the CLI: `mlv config core.link
  // $'copy,\rreflink'` passes validation (the parts are trimmed), is saved, and every later
  // command fails with INVALID_CONFIG "carriage return (CRLF line ending) is not allowed".
  it.each([
    ['a carriage return', 'copy,\rreflink'],
    ['U+2028', 'copy,\u2028reflink'],
  ])('set() writes a value with %s in a form the parser accepts', (_label, value) => {
    const c = ConfigFile.parse('[core]\n', FILE);
    c.set('core.link', value);
    expect(ConfigFile.parse(c.toString(), FILE).get('core.link')).toBe(value);
  });

  it('unset() removes only that line and reports whether it existed', () => {
    const c = ConfigFile.parse(SAMPLE, FILE);
    expect(c.unset('core.jobs')).toBe(true);
    expect(c.unset('core.jobs')).toBe(false);
    expect(c.unset('remote.nope.url')).toBe(false);
    expect(c.toString()).toBe(SAMPLE.replace('    jobs=4\n', ''));
    expect(ConfigFile.parse(c.toString(), FILE).get('core.jobs')).toBeUndefined();
  });

  it('removeSection() drops the header and keys of one section only', () => {
    const c = ConfigFile.parse(SAMPLE, FILE);
    c.removeSection('remote.origin');
    const out = c.toString();
    expect(out).not.toContain('[remote "origin"]');
    expect(out).not.toContain('s3://bucket/path');
    expect(out).toContain('[remote "with.dot"]');
    expect(ConfigFile.parse(out, FILE).get('remote.with.dot.url')).toBe('https://example.invalid/x;y');
    expect(ConfigFile.parse(out, FILE).get('core.link')).toBe('reflink,copy');
  });

  it('save() writes atomically and load() reads it back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-config-'));
    try {
      const file = path.join(dir, 'config');
      fs.writeFileSync(file, SAMPLE);
      const c = ConfigFile.load(file);
      c.set('core.jobs', '16');
      c.save(dir);
      expect(fs.readFileSync(file, 'utf8')).toBe(SAMPLE.replace('    jobs=4', '\tjobs = 16'));
      expect(fs.readdirSync(dir)).toEqual(['config']);
      expect(ConfigFile.load(file).get('core.jobs')).toBe('16');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('splitKey() splits at the last dot and rejects keys without a section or name', () => {
    expect(splitKey('core.link')).toEqual({ section: 'core', name: 'link' });
    expect(splitKey('remote.a.b.url')).toEqual({ section: 'remote.a.b', name: 'url' });
    for (const bad of ['link', '.link', 'core.', '']) {
      expect(() => splitKey(bad)).toThrow(MlvError);
      try {
        splitKey(bad);
      } catch (err) {
        expect((err as MlvError).code).toBe('USAGE');
      }
    }
  });
});

describe('configuration schema', () => {
  const usage = (key: string, value: string): MlvError => {
    try {
      validateConfigValue(key, value);
    } catch (err) {
      expect(err).toBeInstanceOf(MlvError);
      expect((err as MlvError).code).toBe('USAGE');
      return err as MlvError;
    }
    throw new Error(`expected ${key}=${JSON.stringify(value)} to be rejected`);
  };

  it('rejects unknown keys, listing the known ones', () => {
    const err = usage('core.linkk', 'copy');
    expect(err.message).toContain('unknown configuration key "core.linkk"');
    expect(err.hint).toContain('core.link');
    usage('remote.origin.bogus', 'x');
    usage('remote.bad name.url', 's3://bucket/x');
    usage('CORE.LINK', 'copy');
    usage('', '');
  });

  // Regression (fixed): CONFIG_KEYS is a plain object, so CONFIG_KEYS[key] finds Object.prototype members and
  // validateConfigValue('constructor' | '__proto__' | 'toString' | ..., v) throws "TypeError:
  // spec.validate is not a function". `mlv config constructor x` exits 1 with "internal error";
  // `mlv config constructor` says "constructor is not set" instead of "unknown configuration key".
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('rejects the prototype name %s as an unknown key', (key) => {
    expect(usage(key, 'x').message).toContain('unknown configuration key');
  });

  it.each(['copy', 'reflink,copy', 'hardlink, symlink, copy', 'reflink,hardlink,symlink,copy'])('accepts core.link = %j', (v) => {
    expect(() => validateConfigValue('core.link', v)).not.toThrow();
  });
  it.each(['', 'cp', 'copy,', ',copy', 'copy,copy', 'reflink, reflink', 'Copy', 'copy;reflink', 'copy reflink'])(
    'rejects core.link = %j',
    (v) => {
      expect(usage('core.link', v).message).toContain('invalid value for core.link');
    },
  );

  it.each(['1', '8', '99', '256'])('accepts core.jobs = %s', (v) => {
    expect(() => validateConfigValue('core.jobs', v)).not.toThrow();
  });
  it.each(['0', '257', '999', '1000', '-1', '01', '1.5', '', ' 4', 'four', '1e2'])('rejects core.jobs = %j', (v) => {
    expect(usage('core.jobs', v).message).toContain('expected an integer from 1 to 256');
  });

  it.each(['true', 'false'])('accepts core.autostage = %s', (v) => {
    expect(() => validateConfigValue('core.autostage', v)).not.toThrow();
  });
  it.each(['yes', 'no', 'TRUE', 'False', '1', '0', '', ' true'])('rejects core.autostage = %j', (v) => {
    expect(usage('core.autostage', v).message).toContain('expected true or false');
  });

  it('validates core.no_scm and core.lock_timeout', () => {
    expect(() => validateConfigValue('core.no_scm', 'true')).not.toThrow();
    usage('core.no_scm', 'maybe');
    for (const ok of ['0', '5', '600', '999999']) expect(() => validateConfigValue('core.lock_timeout', ok)).not.toThrow();
    for (const bad of ['-1', '1.5', '05', '1000000', 'soon']) usage('core.lock_timeout', bad);
  });

  it('every key with a default accepts its own default', () => {
    for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
      if (spec.default !== undefined) expect(() => validateConfigValue(key, spec.default!)).not.toThrow();
    }
  });
});

describe('Config: shared and local files', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-config-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uses defaults when no file exists', () => {
    const c = Config.load(dir);
    expect(c.link).toEqual([...DEFAULT_LINK]);
    expect(c.autostage).toBe(true);
    expect(c.noScm).toBe(false);
    expect(c.jobs).toBeUndefined();
  });

  it('lets config.local override config', () => {
    fs.writeFileSync(path.join(dir, 'config'), '[core]\n\tlink = hardlink, copy\n\tjobs = 4\n\tautostage = false\n');
    fs.writeFileSync(path.join(dir, 'config.local'), '[core]\n\tjobs = 2\n');
    const c = Config.load(dir);
    expect(c.link).toEqual(['hardlink', 'copy']);
    expect(c.jobs).toBe(2);
    expect(c.autostage).toBe(false);
    expect(c.get('core.lock_timeout')).toBe('60');
  });

  it('rejects a file holding an invalid value or an unknown key with INVALID_CONFIG naming the file', () => {
    const shared = path.join(dir, 'config');
    fs.writeFileSync(shared, '[core]\n\tjobs = 0\n');
    expect(() => Config.load(dir)).toThrow(MlvError);
    try {
      Config.load(dir);
    } catch (err) {
      expect((err as MlvError).code).toBe('INVALID_CONFIG');
      expect((err as MlvError).message).toContain(shared);
      expect((err as MlvError).message).toContain('core.jobs');
    }
    fs.writeFileSync(shared, '[core]\n\tjobs = 2\n');
    fs.writeFileSync(path.join(dir, 'config.local'), '[core]\n\tcolour = blue\n');
    try {
      Config.load(dir);
      throw new Error('expected INVALID_CONFIG');
    } catch (err) {
      expect((err as MlvError).code).toBe('INVALID_CONFIG');
      expect((err as MlvError).message).toContain(path.join(dir, 'config.local'));
      expect((err as MlvError).message).toContain('core.colour');
    }
  });

  it('reports syntax errors with file and line', () => {
    fs.writeFileSync(path.join(dir, 'config.local'), '[core]\n\tjobs = 2\nnonsense\n');
    expect(() => Config.load(dir)).toThrow(`${path.join(dir, 'config.local')}:3:`);
  });
});
