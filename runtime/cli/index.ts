/** CLI verbs of the runtime node. Each verb's heavy modules load inside its action. */
import type { Command } from 'commander';
import { registerImageCommands } from './images.js';
import { registerRunCommand } from './run.js';
import { registerContainerCommands } from './containers.js';
import { registerDaemonCommand } from './daemon.js';

export function registerRuntimeCommands(program: Command): void {
  registerImageCommands(program);
  registerRunCommand(program);
  registerContainerCommands(program);
  registerDaemonCommand(program);
}
