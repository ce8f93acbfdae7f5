/**
 * The subset of Go's text/template that `--format` is used with, evaluated over plain
 * objects: literal text with `\t`/`\n` escapes as the docker CLI unescapes them, and
 * actions
 *
 *   {{.}}  {{.A.B.C}}          a field path (map keys work the same)
 *   {{json .A}}  {{.A | json}} the value as JSON (Go's encoding/json, one line)
 *   {{upper .A}} {{lower .A}} {{title .A}}
 *   {{join .A ","}}            a list joined
 *   {{index .A "key"}}         a map entry or list element
 *   {{println .A}}             the value and a newline
 *
 * A value prints as Go's fmt prints it: strings bare, numbers and booleans as written,
 * null as `<no value>` at the top and `<nil>` inside, lists `[a b]`, maps `map[k:v]`.
 * Anything else (range, if, with, variables) is refused with a message, never guessed.
 * No npm package on the registry does this subset better than these lines.
 */

export class TemplateError extends Error {
  override name = 'TemplateError';
}

type Value = unknown;

function goString(v: Value, top: boolean): string {
  if (v === undefined || v === null) return top ? '<no value>' : '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => goString(x, false)).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `map[${keys.map((k) => `${k}:${goString((v as Record<string, Value>)[k], false)}`).join(' ')}]`;
  }
  return String(v);
}

function fieldPath(data: Value, path: string): Value {
  if (path === '.') return data;
  let cur: Value = data;
  for (const part of path.slice(1).split('.')) {
    if (cur === null || cur === undefined || typeof cur !== 'object') {
      throw new TemplateError(`can't evaluate field ${part} in type ${cur === null || cur === undefined ? 'nil' : typeof cur}`);
    }
    cur = (cur as Record<string, Value>)[part];
  }
  return cur;
}

/** Splits an action into words, keeping "quoted strings" whole. */
function words(action: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(action))) {
    if (m[1] !== undefined) out.push(JSON.stringify(JSON.parse(`"${m[1]}"`)));
    else if (m[2] !== undefined) out.push(JSON.stringify(m[2]));
    else out.push(m[3]!);
  }
  return out;
}

function argument(data: Value, word: string): Value {
  if (word.startsWith('.')) return fieldPath(data, word);
  if (word.startsWith('"')) return JSON.parse(word) as string;
  if (/^-?\d+$/.test(word)) return Number(word);
  throw new TemplateError(`unsupported template argument "${word}"`);
}

const FUNCTIONS: Record<string, (args: Value[]) => Value> = {
  json: ([v]) => ({ __raw: JSON.stringify(v ?? null) }),
  upper: ([v]) => goString(v, false).toUpperCase(),
  lower: ([v]) => goString(v, false).toLowerCase(),
  title: ([v]) => goString(v, false).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: ([v, sep]) => (Array.isArray(v) ? v.map((x) => goString(x, false)).join(String(sep ?? '')) : goString(v, false)),
  index: ([v, k]) => (v !== null && typeof v === 'object' ? (v as Record<string, Value>)[String(k)] : undefined),
  println: ([v]) => ({ __raw: `${goString(v, false)}\n` }),
};

function evalCommand(data: Value, command: string, piped?: { v: Value }): Value {
  const w = words(command.trim());
  if (w.length === 0) throw new TemplateError('empty command in template');
  const [head, ...rest] = w;
  const fn = FUNCTIONS[head!];
  if (fn) {
    const args = rest.map((x) => argument(data, x));
    if (piped) args.push(piped.v);
    return fn(args);
  }
  if (w.length > 1 || piped) throw new TemplateError(`function "${head}" not defined`);
  return argument(data, head!);
}

function render(v: Value): string {
  if (v && typeof v === 'object' && '__raw' in (v as object)) return (v as { __raw: string }).__raw;
  return goString(v, true);
}

function evalAction(data: Value, action: string): string {
  const trimmed = action.trim();
  if (/^(range|if|with|else|end|define|template|block)\b/.test(trimmed) || trimmed.startsWith('$')) {
    throw new TemplateError(`template action "{{${trimmed}}}" is not supported by wharf's --format (fields, json, join, index, upper, lower only)`);
  }
  let value: { v: Value } | undefined;
  for (const part of trimmed.split('|')) {
    value = { v: evalCommand(data, part, value) };
  }
  return render(value!.v);
}

export interface CompiledTemplate {
  execute(data: Value): string;
}

/** The docker CLI unescapes `\t` and `\n` typed on a command line before parsing. */
export function compile(source: string): CompiledTemplate {
  const text = source.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const parts: Array<string | { action: string }> = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      parts.push(text.slice(i));
      break;
    }
    parts.push(text.slice(i, open));
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`template: unclosed action in "${source}"`);
    parts.push({ action: text.slice(open + 2, close).replace(/^-\s|\s-$/g, '') });
    i = close + 2;
  }
  return {
    execute(data: Value): string {
      return parts.map((p) => (typeof p === 'string' ? p : evalAction(data, p.action))).join('');
    },
  };
}
