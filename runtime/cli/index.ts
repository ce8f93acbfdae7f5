/**
 * CLI verbs of the runtime node, in groups: each group's module registers its verbs, and
 * each verb's heavy modules load inside its action. bin/wharf.ts registers only the group
 * of the verb being run (all of them for `wharf --help` and what it does not know).
 */
import type { Command } from 'commander';
import { setCliContext, type CliContext } from './verb.js';
import { DEFAULT_WHARF_HOST } from './engine/host.js';

/** A group of verbs: the top-level names (and aliases) it registers, and its registration. */
export interface VerbGroup {
  verbs: readonly string[];
  load(): Promise<(program: Command) => void>;
}

/** In `wharf --help`'s order. */
export const RUNTIME_VERB_GROUPS: readonly VerbGroup[] = [
  { verbs: ['pull', 'images', 'rmi', 'tag'], load: async () => (await import('./images.js')).registerImageCommands },
  {
    verbs: ['push', 'login', 'logout', 'save', 'load', 'history', 'search', 'commit', 'image'],
    load: async () => (await import('./image-workflow.js')).registerImageWorkflowCommands,
  },
  { verbs: ['run'], load: async () => (await import('./run.js')).registerRunCommand },
  { verbs: ['container'], load: async () => (await import('./containers.js')).registerContainerCommands },
  {
    verbs: ['ps', 'inspect', 'logs', 'stop', 'restart', 'kill', 'rm', 'pause', 'unpause', 'rename', 'wait', 'start', 'attach', 'exec', 'create', 'top', 'stats', 'cp'],
    load: async () => (await import('./container-verbs.js')).registerContainerVerbs,
  },
  { verbs: ['volume'], load: async () => (await import('./volume-verbs.js')).registerVolumeVerbs },
  { verbs: ['network', 'port'], load: async () => (await import('./networks.js')).registerNetworkCommands },
  { verbs: ['daemon'], load: async () => (await import('./daemon.js')).registerDaemonCommand },
  { verbs: ['build'], load: async () => (await import('./build.js')).registerBuildCommand },
];

/** What every runtime verb needs of the program: the context (env, wiring) and the global -H flag. */
export function setupRuntimeCli(program: Command, env: Record<string, string | undefined>, wiring: Omit<CliContext, 'env'> = {}): void {
  setCliContext({ env, ...wiring });
  program.option('-H, --host <host>', `node daemon socket to connect to (default: WHARF_HOST, else ${DEFAULT_WHARF_HOST})`);
}

