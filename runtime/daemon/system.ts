/**
 * System routes: `_ping` (GET and HEAD, with the negotiation headers the docker CLI reads:
 * API-Version, Ostype, Docker-Experimental, Builder-Version), `version`, `info`, `events`.
 */
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { DaemonDeps } from './deps.js';
import { API_VERSION, MIN_API_VERSION, sendJson, type Call, type Router } from './router.js';
import { badParameter } from './errors.js';
import type { EngineEvent } from './events.js';

export const DAEMON_VERSION = '0.1.0';

function pingHeaders(call: Call): void {
  const res = call.res!;
  res.setHeader('API-Version', API_VERSION);
  res.setHeader('Ostype', 'linux');
  res.setHeader('Docker-Experimental', 'false');
  res.setHeader('Builder-Version', '1');
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.setHeader('Pragma', 'no-cache');
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le' };
const UNAME_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i686', s390x: 's390x', ppc64: 'ppc64le' };

function operatingSystem(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function registerSystemRoutes(router: Router, deps: DaemonDeps, node: { id: string; cgroupVersion: 1 | 2 }): void {
  const ping = (call: Call) => {
    pingHeaders(call);
    const res = call.res!;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
    res.end(call.method === 'HEAD' ? undefined : 'OK');
  };
  router.get('/_ping', ping);
  router.head('/_ping', ping);

  router.get('/version', (call) => {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: GOARCH[arch()] ?? arch(), KernelVersion: release() };
    sendJson(call, 200, {
      Platform: { Name: 'Wharf' },
      Components: [{ Name: 'Engine', Version: DAEMON_VERSION, Details: { ...details, GitCommit: 'wharf', GoVersion: `node ${process.version}` } }],
      Version: DAEMON_VERSION,
      ...details,
      GitCommit: 'wharf',
      GoVersion: `node ${process.version}`,
      BuildTime: '',
    });
  });

  router.get('/info', async (call) => {
    const c = deps.containers.counts();
    const images = await deps.images.list().catch(() => []);
    sendJson(call, 200, {
      ID: node.id,
      Containers: c.total,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: images.length,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      Plugins: { Volume: [], Network: ['host', 'none'], Authorization: null, Log: ['json-file'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: false,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: String(node.cgroupVersion),
      NEventsListener: 0,
      KernelVersion: release(),
      OperatingSystem: operatingSystem(),
      OSVersion: '',
      OSType: 'linux',
      Architecture: UNAME_ARCH[arch()] ?? arch(),
      IndexServerAddress: `http://${deps.defaultRegistry}/v2/`,
      RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8', '::1/128'], IndexConfigs: {}, Mirrors: [] },
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: deps.layout.root,
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: DAEMON_VERSION,
      Runtimes: { wharf: { path: 'wharf-init' } },
      DefaultRuntime: 'wharf',
      Swarm: { LocalNodeState: 'inactive', ControlAvailable: false, NodeID: '', NodeAddr: '', Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: [],
    });
  });

  router.get('/events', (call) => streamEvents(call, deps));
}

/** `GET /events?since=&until=&filters=`: the backlog from `since`, then live events until `until` (or forever). */
function streamEvents(call: Call, deps: DaemonDeps): void {
  const q = call.query;
  const toNs = (what: string, v: string | null): number | undefined => {
    if (v === null || v === '') return undefined;
    const secs = /^\d+(\.\d+)?$/.test(v) ? Number(v) : Date.parse(v) / 1000;
    if (!Number.isFinite(secs)) throw badParameter(`invalid value for ${what}: ${v}`);
    return Math.floor(secs * 1e9);
  };
  const since = toNs('since', q.get('since'));
  const until = toNs('until', q.get('until'));
  let filters: Record<string, string[] | Record<string, boolean>> = {};
  if (q.get('filters')) {
    try {
      filters = JSON.parse(q.get('filters')!) as typeof filters;
    } catch {
      throw badParameter(`invalid filters: ${q.get('filters')}`);
    }
  }
  const values = (k: string): string[] | undefined => {
    const v = filters[k];
    if (!v) return undefined;
    return Array.isArray(v) ? v : Object.keys(v).filter((x) => (v as Record<string, boolean>)[x]);
  };
  const want = (ev: EngineEvent): boolean => {
    const types = values('type');
    if (types && !types.includes(ev.Type)) return false;
    const events = values('event') ?? values('action');
    if (events && !events.includes(ev.Action)) return false;
    const containers = values('container');
    if (containers && !containers.some((c) => ev.Actor.ID.startsWith(c) || ev.Actor.Attributes.name === c)) return false;
    return true;
  };
  const res = call.res!;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const send = (ev: EngineEvent) => {
    if (until !== undefined && ev.timeNano > until) return;
    if (want(ev)) res.write(`${JSON.stringify(ev)}\n`);
  };
  if (since !== undefined) for (const ev of deps.events.since(since)) send(ev);
  const nowNs = Date.now() * 1e6;
  if (until !== undefined && until <= nowNs) {
    res.end();
    return;
  }
  const unsubscribe = deps.events.subscribe(send);
  const timer = until !== undefined ? setTimeout(() => res.end(), Math.max(0, (until - nowNs) / 1e6)) : undefined;
  res.on('close', () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
  });
}
