/**
 * Wires the daemon: node layout, image store, container manager (which reconciles the
 * records with the shims it finds), the event bus, the routes, and the listeners.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { NodeLayout } from '../layout.js';
import { ImageStore } from '../images/store.js';
import type { Colocation } from '../images/colocated.js';
import { detectCgroupVersion } from '../cgroups/detect.js';
import type { DaemonDeps } from './deps.js';
import { EventBus } from './events.js';
import { buildRouter, groupId, listen, parseHost, type Listener, type TlsFiles } from './server.js';
import { registerSystemRoutes } from './system.js';
import { registerImageRoutes } from './images.js';
import { ContainerManager } from '../containers/manager.js';
import { registerContainerRoutes } from './containers.js';
import { registerCommitRoute } from './commit.js';
import { registerExecRoutes } from './exec.js';
import { ExecManager } from '../containers/exec.js';
import { VolumeStore } from '../volumes/store.js';
import { registerVolumeRoutes } from './volumes.js';
import { registerBuildRoutes } from './build.js';
import { NetworkManager } from '../network/endpoints.js';
import { DEFAULT_BIP, DEFAULT_BRIDGE, DEFAULT_POOL, type NetworkOptions } from '../network/networks.js';
import { registerNetworkRoutes } from './networks.js';
import { IdleHeapTrim } from './idle-trim.js';
import { trimHeap } from '../native/spawn.js';

export interface DaemonOptions {
  root: string;
  /** where shim sockets live (short paths: sun_path has 108 bytes). Default /run/wharf */
  execRoot: string;
  hosts: string[];
  group?: string;
  tls?: TlsFiles;
  defaultRegistry: string;
  log: Logger;
  /** the default bridge and the user networks' address pool (dockerd --bridge, --bip, --default-address-pool) */
  network?: Partial<NetworkOptions>;
  /** co-located registries whose blob stores the node shares (--registry-data) */
  colocation?: Colocation;
}

export interface RunningDaemon {
  listeners: Listener[];
  containers: ContainerManager;
  /** stops listening; containers keep running */
  close(): Promise<void>;
}

async function nodeId(layout: NodeLayout): Promise<string> {
  const file = `${layout.root}/engine-id`;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const id = randomBytes(16).toString('hex');
    await writeFile(file, id);
    return id;
  }
}

export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const addresses = o.hosts.map((h) => parseHost(h, o.tls));
  const gid = o.group !== undefined ? await groupId(o.group) : undefined;
  const layout = new NodeLayout(o.root);
  await mkdir(layout.root, { recursive: true, mode: 0o711 });
  const [id, cgroupVersion] = await Promise.all([nodeId(layout), detectCgroupVersion()]);
  const events = new EventBus();
  const images = new ImageStore(layout, { defaultRegistry: o.defaultRegistry, ...(o.colocation ? { colocation: o.colocation } : {}) });
  const volumes = new VolumeStore(layout, events);
  await volumes.load();
  const network = new NetworkManager(layout, o.execRoot, { bridge: DEFAULT_BRIDGE, bip: DEFAULT_BIP, pool: DEFAULT_POOL, ...(o.network ?? {}) }, o.log);
  await network.load();
  const containers = new ContainerManager({ layout, execRoot: o.execRoot, images, events, log: o.log, defaultRegistry: o.defaultRegistry, volumes, network });
  await containers.load();
  // The rules of every network and of the ports of the running containers (again after a crash).
  await network.syncFirewall();
  const execs = new ExecManager(containers, o.execRoot);
  containers.execs = execs;
  const deps: DaemonDeps = { layout, images, defaultRegistry: o.defaultRegistry, containers, events, log: o.log };
  const router = buildRouter(deps, [(r, d) => registerSystemRoutes(r, d, { id, cgroupVersion }), registerImageRoutes, (r) => registerContainerRoutes(r, deps, containers), (r) => registerCommitRoute(r, deps, containers), (r) => registerExecRoutes(r, containers, execs), (r) => registerVolumeRoutes(r, volumes, containers), (r) => registerBuildRoutes(r, deps, containers), (r) => registerNetworkRoutes(r, containers, network)]);
  const listeners: Listener[] = [];
  const idle = new IdleHeapTrim(trimHeap);
  try {
    for (const a of addresses) listeners.push(await listen(a, router, o.log, { ...(gid !== undefined ? { gid } : {}), ...(o.tls ? { tls: o.tls } : {}), onRequest: () => idle.touch() }));
  } catch (e) {
    idle.stop();
    await Promise.all(listeners.map((l) => l.close()));
    await containers.detach();
    network.close();
    throw e;
  }
  for (const l of listeners) o.log.info({ address: l.address }, 'API listen');
  return {
    listeners,
    containers,
    async close() {
      idle.stop();
      await Promise.all(listeners.map((l) => l.close()));
      await containers.detach();
      network.close();
    },
  };
}
