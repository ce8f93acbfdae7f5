/** CLI verbs of the runtime node. Filled in by the runtime work (issue 3). */
import type { Command } from 'commander';
import { registerImageCommands } from './image/cli.js';

export function registerRuntimeCommands(program: Command): void {
  registerImageCommands(program);
}
