/**
 * Variable substitution in Dockerfile words, as moby's shell lexer does it
 * (frontend/dockerfile/shell/lex.go, ProcessWord / ProcessWords): `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`; single quotes keep
 * everything literal, double quotes keep `$` live, the escape character (`\` or the
 * `# escape=` directive's) makes the next character literal; quotes are removed.
 * An unset variable expands to ''.
 */

export class SubstitutionError extends Error {
  override name = 'SubstitutionError';
}

export type Vars = ReadonlyMap<string, string>;

const NAME_START = /[A-Za-z_]/;
const NAME = /[A-Za-z0-9_]/;

class Lexer {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly vars: Vars,
    private readonly escape: string,
  ) {}

  private peek(): string {
    return this.s[this.i] ?? '';
  }

  /** Words split at unquoted whitespace (`split`), or the whole input as one word. */
  words(split: boolean): string[] {
    const out: string[] = [];
    let cur = '';
    let inWord = false;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (split && /\s/.test(c)) {
        this.i++;
        if (inWord) out.push(cur);
        cur = '';
        inWord = false;
        continue;
      }
      inWord = true;
      if (c === "'") {
        this.i++;
        const end = this.s.indexOf("'", this.i);
        if (end < 0) throw new SubstitutionError('unexpected end of statement while looking for matching single-quote');
        cur += this.s.slice(this.i, end);
        this.i = end + 1;
      } else if (c === '"') {
        this.i++;
        cur += this.doubleQuoted();
      } else if (c === '$') {
        cur += this.dollar();
      } else if (c === this.escape) {
        this.i++;
        if (this.i < this.s.length) cur += this.s[this.i++];
        else cur += c;
      } else {
        cur += c;
        this.i++;
      }
    }
    if (inWord) out.push(cur);
    return out;
  }

  private doubleQuoted(): string {
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) throw new SubstitutionError('unexpected end of statement while looking for matching double-quote');
      const c = this.s[this.i]!;
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === '$') {
        out += this.dollar();
      } else if (c === this.escape && ['"', '$', this.escape].includes(this.s[this.i + 1] ?? '')) {
        out += this.s[this.i + 1];
        this.i += 2;
      } else {
        out += c;
        this.i++;
      }
    }
  }

  /** At a `$`: the expansion, or a literal `$`. */
  private dollar(): string {
    this.i++;
    const c = this.peek();
    if (c === '{') {
      this.i++;
      const start = this.i;
      while (NAME.test(this.peek())) this.i++;
      const name = this.s.slice(start, this.i);
      if (name === '') throw new SubstitutionError(`bad substitution: missing variable name in \${${this.s.slice(this.i)}`);
      const value = this.vars.get(name);
      if (this.peek() === '}') {
        this.i++;
        return value ?? '';
      }
      let colon = false;
      if (this.peek() === ':') {
        colon = true;
        this.i++;
      }
      const op = this.peek();
      if (op !== '-' && op !== '+' && op !== '?') throw new SubstitutionError(`unsupported modifier (${op}) in substitution`);
      this.i++;
      const word = this.until('}');
      const set = colon ? value !== undefined && value !== '' : value !== undefined;
      if (op === '-') return set ? value! : word;
      if (op === '+') return set ? word : '';
      if (!set) throw new SubstitutionError(`${name}: ${word || 'is not allowed to be unset'}`);
      return value!;
    }
    if (NAME_START.test(c)) {
      const start = this.i;
      while (NAME.test(this.peek())) this.i++;
      return this.vars.get(this.s.slice(start, this.i)) ?? '';
    }
    return '$';
  }

  /** The word of a `${VAR:-word}` up to the closing brace, itself expanded. */
  private until(close: string): string {
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) throw new SubstitutionError(`missing '${close}' in substitution`);
      const c = this.s[this.i]!;
      if (c === close) {
        this.i++;
        return out;
      }
      if (c === '$') out += this.dollar();
      else if (c === "'") {
        this.i++;
        const end = this.s.indexOf("'", this.i);
        if (end < 0) throw new SubstitutionError('unexpected end of statement while looking for matching single-quote');
        out += this.s.slice(this.i, end);
        this.i = end + 1;
      } else if (c === '"') {
        this.i++;
        out += this.doubleQuoted();
      } else if (c === this.escape) {
        out += this.s[this.i + 1] ?? '';
        this.i += 2;
      } else {
        out += c;
        this.i++;
      }
    }
  }
}

/** One word: quotes removed, variables expanded, whitespace kept. */
export function processWord(s: string, vars: Vars, escape = '\\'): string {
  return new Lexer(s, vars, escape).words(false).join('');
}

/** Words split at unquoted whitespace, each expanded. */
export function processWords(s: string, vars: Vars, escape = '\\'): string[] {
  return new Lexer(s, vars, escape).words(true);
}
