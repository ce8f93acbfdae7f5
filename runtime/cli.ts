/** CLI verbs of the runtime node. Filled in by the runtime work (issue 3). */
import type { Command } from 'commander';

export function registerRuntimeCommands(_program: Command): void {}
