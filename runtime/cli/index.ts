/** CLI verbs of the runtime node. Each verb's heavy modules load inside its action. */
import type { Command } from 'commander';
import { registerImageCommands } from './images.js';
import { registerImageWorkflowCommands } from './image-workflow.js';
import { registerRunCommand } from './run.js';
import { registerContainerCommands } from './containers.js';
import { registerContainerVerbs } from './container-verbs.js';
import { registerDaemonCommand } from './daemon.js';
import { registerVolumeVerbs } from './volume-verbs.js';
import { registerBuildCommand } from './build.js';
import { registerNetworkCommands } from './networks.js';
import { setCliContext, type CliContext } from './verb.js';
import { DEFAULT_WHARF_HOST } from './engine/host.js';

export function registerRuntimeCommands(program: Command, env: Record<string, string | undefined>, wiring: Omit<CliContext, 'env'> = {}): void {
  setCliContext({ env, ...wiring });
  program.option('-H, --host <host>', `node daemon socket to connect to (default: WHARF_HOST, else ${DEFAULT_WHARF_HOST})`);
  registerImageCommands(program);
  registerImageWorkflowCommands(program);
  registerRunCommand(program);
  registerContainerCommands(program);
  registerContainerVerbs(program);
  registerVolumeVerbs(program);
  registerNetworkCommands(program);
  registerDaemonCommand(program);
  registerBuildCommand(program);
}
