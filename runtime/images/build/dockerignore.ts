/**
 * `.dockerignore`, with Docker's rules (moby/patternmatcher, and the CLI's ReadAll): one
 * pattern a line, `#` comments, blank lines skipped, surrounding whitespace trimmed, the
 * pattern cleaned as a path and a leading `/` dropped; `*` and `?` never cross a `/`,
 * `**` spans any number of directories, `[...]` is a class, `\` escapes; `!pattern` is an
 * exception. A path is excluded when the last rule that matches it, or one of its parent
 * directories, is not an exception: later rules win.
 */
import { posix } from 'node:path';

export interface IgnoreRule {
  pattern: string;
  exception: boolean;
  regex: RegExp;
  /** number of path components the pattern spans (for matching parents) */
  depth: number;
}

function toRegex(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`syntax error in pattern ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`${re}$`);
}

/** The rules of a .dockerignore file's text. */
export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let exception = false;
    if (line.startsWith('!')) {
      exception = true;
      line = line.slice(1).trim();
    }
    if (line !== '') line = posix.normalize(line);
    line = line.replace(/^\/+/, '');
    if (line === '' || line === '.') continue;
    rules.push({ pattern: line, exception, regex: toRegex(line), depth: line.split('/').length });
  }
  return rules;
}

function matches(rule: IgnoreRule, path: string): boolean {
  if (rule.regex.test(path)) return true;
  // a parent directory that matches excludes what is inside it
  const parts = path.split('/');
  for (let k = 1; k < parts.length; k++) {
    if (rule.regex.test(parts.slice(0, k).join('/'))) return true;
  }
  return false;
}

/** Is `path` (relative to the context root, '/'-separated) excluded? */
export function isIgnored(path: string, rules: readonly IgnoreRule[]): boolean {
  const p = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
  let excluded = false;
  for (const r of rules) if (matches(r, p)) excluded = !r.exception;
  return excluded;
}

/** Could something under the excluded directory `dir` be brought back by an exception? */
export function mayHaveExceptions(dir: string, rules: readonly IgnoreRule[]): boolean {
  return rules.some((r) => r.exception && (r.pattern.startsWith(`${dir}/`) || r.pattern.includes('*') || r.pattern.includes('?') || r.pattern.includes('[')));
}
