/** CLI verbs of the runtime node. Each verb's heavy modules load inside its action. */
import type { Command } from 'commander';
import { registerImageCommands } from './image/cli.js';
import { registerRunCommand } from './run-cli.js';

export function registerRuntimeCommands(program: Command): void {
  registerImageCommands(program);
  registerRunCommand(program);
}
