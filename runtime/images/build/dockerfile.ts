/**
 * The Dockerfile parser (moby frontend/dockerfile/parser, as the classic builder reads it):
 * parser directives at the top (`# escape=` honoured, `# syntax=` and others ignored),
 * comments, line continuations with the escape character (comment and empty lines inside a
 * continuation are skipped), one instruction per logical line with its `--flags`, and the
 * exec (JSON array) form where an instruction has one. No variable is expanded here: the
 * builder does that per step, with the ARG and ENV values in effect (shell-words.ts).
 *
 * Every error names its line: "Dockerfile:7: unknown instruction: FOO".
 */

export const INSTRUCTIONS = [
  'FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'ENV', 'ARG', 'LABEL', 'MAINTAINER', 'EXPOSE', 'VOLUME', 'USER',
  'WORKDIR', 'COPY', 'ADD', 'ONBUILD', 'STOPSIGNAL', 'SHELL', 'HEALTHCHECK',
] as const;
export type Keyword = (typeof INSTRUCTIONS)[number];

export interface Instruction {
  keyword: Keyword;
  /** 1-based line of the instruction's first line */
  line: number;
  /** the logical line as written (continuations joined), for "Step 1/4 : …" */
  original: string;
  /** `--name=value` flags before the arguments */
  flags: Record<string, string>;
  /** the arguments after the flags, as written */
  args: string;
  /** set when the arguments are a JSON array of strings (exec form) */
  json?: string[];
  /** ONBUILD: the trigger instruction */
  trigger?: Instruction;
}

export interface Dockerfile {
  escape: string;
  instructions: Instruction[];
}

export class DockerfileError extends Error {
  override name = 'DockerfileError';
  constructor(
    readonly line: number,
    message: string,
    readonly file = 'Dockerfile',
  ) {
    super(line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`);
  }
}

const FLAGS: Partial<Record<Keyword, string[]>> = {
  FROM: ['platform'],
  COPY: ['chown', 'from', 'chmod'],
  ADD: ['chown', 'chmod'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
  RUN: [],
};
const JSON_FORMS = new Set<Keyword>(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'VOLUME', 'COPY', 'ADD']);

/** `["a", "b"]` -> ['a','b'], anything else -> undefined (then it is the shell form). */
export function parseJsonArray(s: string): string[] | undefined {
  const t = s.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    /* not JSON: the shell form, as Docker falls back */
  }
  return undefined;
}

function splitFlags(keyword: Keyword, rest: string, line: number): { flags: Record<string, string>; args: string } {
  const flags: Record<string, string> = {};
  let s = rest;
  for (;;) {
    const m = /^--([a-z][a-z-]*)(?:=(\S*))?(?:\s+|$)/.exec(s);
    if (!m) break;
    const allowed = FLAGS[keyword];
    if (!allowed?.includes(m[1]!)) throw new DockerfileError(line, `unknown flag: --${m[1]}`);
    if (m[2] === undefined) throw new DockerfileError(line, `missing a value on flag: --${m[1]}`);
    flags[m[1]!] = m[2];
    s = s.slice(m[0].length);
  }
  return { flags, args: s };
}

function instruction(text: string, line: number): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text.trim())!;
  const word = m[1]!.toUpperCase();
  if (!(INSTRUCTIONS as readonly string[]).includes(word)) throw new DockerfileError(line, `unknown instruction: ${m[1]}`);
  const keyword = word as Keyword;
  const rest = m[2]!.trim();
  if (keyword === 'ONBUILD') {
    if (rest === '') throw new DockerfileError(line, 'ONBUILD requires at least one argument');
    const trigger = instruction(rest, line);
    if (trigger.keyword === 'ONBUILD') throw new DockerfileError(line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger.keyword === 'FROM' || trigger.keyword === 'MAINTAINER') throw new DockerfileError(line, `${trigger.keyword} isn't allowed as an ONBUILD trigger`);
    return { keyword, line, original: text.trim(), flags: {}, args: rest, trigger };
  }
  const { flags, args } = FLAGS[keyword] ? splitFlags(keyword, rest, line) : { flags: {}, args: rest };
  const ins: Instruction = { keyword, line, original: text.trim(), flags, args };
  if (JSON_FORMS.has(keyword)) {
    const json = parseJsonArray(args);
    if (json) ins.json = json;
  }
  checkArity(ins);
  return ins;
}

function checkArity(ins: Instruction): void {
  const { keyword, args, line } = ins;
  const empty = args.trim() === '' && !ins.json;
  switch (keyword) {
    case 'CMD':
    case 'ENTRYPOINT':
    case 'RUN':
    case 'HEALTHCHECK':
      if (empty && keyword !== 'CMD' && keyword !== 'ENTRYPOINT') throw new DockerfileError(line, `${keyword} requires at least one argument`);
      break;
    case 'SHELL':
      if (!ins.json) throw new DockerfileError(line, 'SHELL requires the arguments to be in JSON form');
      if (ins.json.length === 0) throw new DockerfileError(line, 'SHELL requires at least one argument');
      break;
    case 'COPY':
    case 'ADD':
      if ((ins.json ? ins.json.length : args.trim().split(/\s+/).length) < 2 || empty) throw new DockerfileError(line, `${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      break;
    case 'USER':
    case 'WORKDIR':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      if (empty) throw new DockerfileError(line, `${keyword} requires exactly one argument`);
      break;
    default:
      if (empty) throw new DockerfileError(line, `${keyword} requires at least one argument`);
  }
}

/** Parse a Dockerfile's text. */
export function parseDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let i = 0;
  // Parser directives: only before anything else, each name once.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i]!);
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (seen.has(name)) throw new DockerfileError(i + 1, `only one ${name} parser directive can be used`, file);
    seen.add(name);
    if (name === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileError(i + 1, `invalid escape token '${m[2]}' does not match ` + '` or \\', file);
      escape = m[2]!;
    }
  }
  const instructions: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  for (; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (pending !== '' && (trimmed === '' || trimmed.startsWith('#'))) continue; // inside a continuation
    if (pending === '') startLine = i + 1;
    const body = raw.replace(/\s+$/, '');
    if (body.endsWith(escape)) {
      pending += (pending === '' ? body.replace(/^\s+/, '') : body).slice(0, -1);
      continue;
    }
    pending += pending === '' ? body.replace(/^\s+/, '') : body;
    try {
      instructions.push(instruction(pending, startLine));
    } catch (e) {
      if (e instanceof DockerfileError && file !== 'Dockerfile') throw new DockerfileError(e.line, e.message.replace(/^Dockerfile:\d+: /, ''), file);
      throw e;
    }
    pending = '';
  }
  if (pending.trim() !== '') instructions.push(instruction(pending, startLine));
  if (instructions.length === 0) throw new DockerfileError(0, 'the Dockerfile cannot be empty', file);
  return { escape, instructions };
}
