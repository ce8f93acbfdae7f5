/**
 * Which verb a command line runs, and the groups of verbs to register for it: `wharf run`
 * registers run's options alone (and, unbundled, loads run's module alone), so a verb pays
 * neither for the other ~60 verbs' option objects nor for their modules. `wharf`,
 * `wharf --help`, `wharf help …` and a verb no group lists register every verb, so help
 * lists them all and an unknown verb gets commander's "did you mean".
 */
import type { Command } from 'commander';
import { RUNTIME_VERB_GROUPS, type VerbGroup } from '../runtime/cli/index.js';

/** The registry's verbs, then the node's: `wharf --help`'s order. */
export const VERB_GROUPS: readonly VerbGroup[] = [
  { verbs: ['serve', 'gc'], load: async () => (await import('../server/cli.js')).registerServerCommands },
  { verbs: ['import', 'export'], load: async () => (await import('../server/archive/cli.js')).registerArchiveCommands },
  ...RUNTIME_VERB_GROUPS,
];

/** Program-level options that take a value (`-H unix:///…`). */
const VALUE_OPTIONS = new Set(['-H', '--host']);

/** The verb of `args` (argv after the script), or undefined when help, the version or an option comes first. */
export function verbOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('--host=') || (a.startsWith('-H') && a.length > 2)) continue;
    return a.startsWith('-') ? undefined : a;
  }
  return undefined;
}

/** The groups to register for this command line: the verb's own, or all of them. */
export function groupsFor(args: readonly string[]): readonly VerbGroup[] {
  const verb = verbOf(args);
  const own = verb === undefined ? undefined : VERB_GROUPS.find((g) => g.verbs.includes(verb));
  return own ? [own] : VERB_GROUPS;
}

/**
 * Registers `groups` in VERB_GROUPS' order. Options after a verb are the verb's (run and exec
 * pass them on to the container): `run` turns that on for the program, and commander copies
 * the setting into each command made afterwards, so the groups before run's (serve … image)
 * are made without it and the ones from run's on with it, whichever are registered.
 */
export async function registerGroups(program: Command, groups: readonly VerbGroup[]): Promise<void> {
  const registers = await Promise.all(groups.map((g) => g.load()));
  const runAt = VERB_GROUPS.findIndex((g) => g.verbs.includes('run'));
  groups.forEach((g, i) => {
    if (VERB_GROUPS.indexOf(g) >= runAt) program.enablePositionalOptions();
    registers[i]!(program);
  });
  program.enablePositionalOptions();
}
