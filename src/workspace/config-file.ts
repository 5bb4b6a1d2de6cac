/**
 * A git-config style file (`[section]`, `[section "sub"]`, `key = value`), edited in place so
 * comments and layout survive `mlv config` changes. Parsing is strict and names file and line.
 */
import * as fs from 'node:fs';
import { MlvError, errnoCode } from '../core/errors.js';
import { writeFileAtomic } from './atomic.js';

interface Line {
  text: string;
  /** Section this line belongs to, as `core` or `remote.origin`. */
  section: string;
  key?: string;
}

export class ConfigFile {
  private constructor(
    readonly file: string,
    private readonly lines: Line[],
  ) {}

  static load(file: string): ConfigFile {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    return ConfigFile.parse(text, file);
  }

  static parse(text: string, file: string): ConfigFile {
    const fail = (line: number, message: string): never => {
      throw new MlvError('INVALID_CONFIG', `${file}:${line}: ${message}`, {
        hint: 'fix the file by hand, or restore it from Git',
        details: { file, line },
      });
    };
    if (text.startsWith('\uFEFF')) fail(1, 'byte-order mark is not allowed');
    if (text.includes('\0')) fail(1, 'NUL byte is not allowed');
    const raw = text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
    const lines: Line[] = [];
    const seen = new Set<string>();
    let section = '';
    raw.forEach((textLine, i) => {
      const n = i + 1;
      if (textLine.includes('\r')) fail(n, 'carriage return (CRLF line ending) is not allowed');
      const t = textLine.trim();
      if (t === '' || t.startsWith('#') || t.startsWith(';')) {
        lines.push({ text: textLine, section });
        return;
      }
      const header = /^\[([a-z][a-z0-9_-]*)(?:\s+"((?:[^"\\]|\\.)+)")?\]$/.exec(t);
      if (header) {
        section = header[2] !== undefined ? `${header[1]}.${unescape(header[2])}` : header[1]!;
        lines.push({ text: textLine, section });
        return;
      }
      if (t.startsWith('[')) fail(n, `malformed section header ${JSON.stringify(t)}`);
      const kv = /^([a-z][a-z0-9_]*)\s*=\s*(.*)$/s.exec(t);
      // Not quoted back: the line may hold a secret (config.local).
      if (!kv) fail(n, 'expected "key = value"');
      if (section === '') fail(n, 'key outside of any [section]');
      const key = `${section}.${kv![1]}`;
      if (seen.has(key)) fail(n, `duplicate key ${key}`);
      seen.add(key);
      parseValue(kv![2]!, (m) => fail(n, `${key}: ${m}`));
      lines.push({ text: textLine, section, key });
    });
    return new ConfigFile(file, lines);
  }

  get(key: string): string | undefined {
    const line = this.lines.find((l) => l.key === key);
    if (!line) return undefined;
    const value = /=\s*(.*)$/s.exec(line.text.trim())![1]!;
    return parseValue(value, () => '');
  }

  entries(): Array<[string, string]> {
    return this.lines.filter((l) => l.key).map((l) => [l.key!, this.get(l.key!)!]);
  }

  set(key: string, value: string): void {
    const { section, name } = splitKey(key);
    const text = `\t${name} = ${formatValue(value)}`;
    const existing = this.lines.find((l) => l.key === key);
    if (existing) {
      existing.text = text;
      return;
    }
    let last = -1;
    this.lines.forEach((l, i) => {
      if (l.section === section && (l.key || /^\s*\[/.test(l.text))) last = i;
    });
    if (last === -1) {
      this.lines.push({ text: sectionHeader(section), section });
      last = this.lines.length - 1;
    }
    this.lines.splice(last + 1, 0, { text, section, key });
  }

  unset(key: string): boolean {
    const i = this.lines.findIndex((l) => l.key === key);
    if (i === -1) return false;
    this.lines.splice(i, 1);
    return true;
  }

  /** Removes every key of a section and its header. */
  removeSection(section: string): void {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i]!;
      if (l.section === section && (l.key || /^\s*\[/.test(l.text))) this.lines.splice(i, 1);
    }
  }

  toString(): string {
    return this.lines.length === 0 ? '' : this.lines.map((l) => l.text).join('\n') + '\n';
  }

  save(tmpDir: string): void {
    writeFileAtomic(this.file, this.toString(), tmpDir);
  }
}

export function splitKey(key: string): { section: string; name: string } {
  const dot = key.lastIndexOf('.');
  if (dot <= 0 || dot === key.length - 1) {
    throw new MlvError('USAGE', `malformed configuration key ${JSON.stringify(key)}`, { hint: 'keys look like section.name, e.g. core.link' });
  }
  return { section: key.slice(0, dot), name: key.slice(dot + 1) };
}

function sectionHeader(section: string): string {
  const dot = section.indexOf('.');
  if (dot === -1) return `[${section}]`;
  const sub = section.slice(dot + 1).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return `[${section.slice(0, dot)} "${sub}"]`;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function parseValue(raw: string, fail: (m: string) => string): string {
  const v = raw.trim();
  if (v.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\["\\ntr0])*)"$/s.exec(v);
    if (!m) return fail('malformed quoted value');
    const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0' };
    return m[1]!.replace(/\\(["\\ntr0])/g, (_, c: string) => escapes[c] ?? c);
  }
  if (/["\\]/.test(v)) return fail('quotes and backslashes need a quoted value');
  return v.replace(/\s+[#;].*$/, '');
}

function formatValue(value: string): string {
  const plain = /^[^\s"\\#;\u0000-\u001f\u007f]([^"\\#;\u0000-\u001f\u007f]*[^\s"\\#;\u0000-\u001f\u007f])?$/;
  if (plain.test(value)) return value;
  return '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/\0/g, '\\0') + '"';
}
