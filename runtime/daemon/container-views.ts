/**
 * How containers look on the wire: `GET /containers/{id}/json` (inspect) and the rows of
 * `GET /containers/json` (list), in moby's shapes (api/types ContainerJSON, Container).
 */
import type { NodeLayout } from '../layout.js';
import type { ContainerRecord } from '../containers/container.js';
import { mountView } from '../volumes/mount-points.js';
import { netnsPath } from '../layout.js';
import type { EndpointSettings } from '../network/types.js';

const running = (r: ContainerRecord): boolean => r.state.Status === 'running' || r.state.Status === 'paused';

/** Endpoints as Docker shows them (without where they sit on the host). */
function networksView(r: ContainerRecord): Record<string, Omit<EndpointSettings, 'ifname' | 'hostIf'>> {
  const out: Record<string, Omit<EndpointSettings, 'ifname' | 'hostIf'>> = {};
  for (const [name, ep] of Object.entries(r.networks ?? {})) {
    const { ifname: _i, hostIf: _h, ...rest } = ep;
    out[name] = rest;
  }
  return out;
}

/** NetworkSettings.Ports: every exposed port, with its host bindings while it runs. */
function portsView(r: ContainerRecord): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  if (!running(r)) return out;
  for (const k of Object.keys((r.config.ExposedPorts as Record<string, unknown> | undefined) ?? {})) out[k] = null;
  for (const p of r.ports ?? []) (out[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  return out;
}

/** The list's Ports: published ones with their host side, the other exposed ones alone. */
function portsSummary(r: ContainerRecord): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
  if (!running(r)) return [];
  const out: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> = [];
  const published = new Set<string>();
  for (const p of r.ports ?? []) {
    out.push({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto });
    published.add(`${p.containerPort}/${p.proto}`);
  }
  for (const k of Object.keys((r.config.ExposedPorts as Record<string, unknown> | undefined) ?? {})) {
    if (published.has(k)) continue;
    const [port, proto] = k.split('/');
    out.push({ PrivatePort: Number(port), Type: proto ?? 'tcp' });
  }
  return out;
}

export function networkSettingsOf(r: ContainerRecord, execRoot: string): Record<string, unknown> {
  const bridge = r.networks?.bridge;
  const bridgeMode = !['host', 'none'].includes(r.hostConfig.NetworkMode) && !r.hostConfig.NetworkMode.startsWith('container:');
  return {
    Bridge: '',
    SandboxID: running(r) && bridgeMode ? r.id : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: portsView(r),
    SandboxKey: running(r) && bridgeMode ? netnsPath(execRoot, r.id) : '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridge?.EndpointID ?? '',
    Gateway: bridge?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.IPAddress ?? '',
    IPPrefixLen: bridge?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: bridge?.MacAddress ?? '',
    Networks: networksView(r),
  };
}

/** go-units HumanDuration, as `docker ps` prints it. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** The Status column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created" ... */
export function statusText(r: ContainerRecord, now = Date.now()): string {
  const s = r.state;
  switch (s.Status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'exited':
      return s.FinishedAt.startsWith('0001') ? 'Created' : `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    default:
      return 'Created';
  }
}

function command(r: ContainerRecord): string {
  return [r.path, ...r.args].join(' ');
}

export function summaryOf(r: ContainerRecord): Record<string, unknown> {
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: r.config.Image,
    ImageID: r.imageId,
    Command: command(r),
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: portsSummary(r),
    Labels: r.config.Labels,
    State: r.state.Status,
    Status: statusText(r),
    HostConfig: { NetworkMode: r.hostConfig.NetworkMode },
    NetworkSettings: { Networks: networksView(r) },
    Mounts: (r.mounts ?? []).map(mountView),
  };
}

export function inspectOf(r: ContainerRecord, layout: NodeLayout, execIds: string[], execRoot = ''): Record<string, unknown> {
  return {
    Id: r.id,
    Created: r.created,
    Path: r.path,
    Args: r.args,
    State: r.state,
    Image: r.imageId,
    ResolvConfPath: r.hasBeenStarted ? layout.resolvConfPath(r.id) : '',
    HostnamePath: r.hasBeenStarted ? layout.hostnamePath(r.id) : '',
    HostsPath: r.hasBeenStarted ? layout.hostsPath(r.id) : '',
    LogPath: r.hostConfig.LogConfig.Type === 'json-file' ? layout.containerLogPath(r.id) : '',
    Name: `/${r.name}`,
    RestartCount: r.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: execIds.length > 0 ? execIds : null,
    HostConfig: r.hostConfig,
    GraphDriver: {
      Name: 'overlay2',
      Data: { UpperDir: layout.upperDir(r.id), WorkDir: layout.workDir(r.id), MergedDir: layout.rootfsDir(r.id) },
    },
    Mounts: (r.mounts ?? []).map(mountView),
    Config: r.config,
    NetworkSettings: networkSettingsOf(r, execRoot),
  };
}

/** `filters` of the list: status, name, id, label, exited, ancestor (moby's names). */
export function listFilter(filters: Record<string, string[]>): (r: ContainerRecord) => boolean {
  return (r) => {
    for (const [key, values] of Object.entries(filters)) {
      if (values.length === 0) continue;
      const ok = values.some((v) => {
        switch (key) {
          case 'status':
            return r.state.Status === v;
          case 'name':
            try {
              return new RegExp(v.replace(/^\//, '')).test(r.name);
            } catch {
              return r.name.includes(v);
            }
          case 'id':
            return r.id.startsWith(v);
          case 'label': {
            const [k, val] = v.split('=', 2) as [string, string | undefined];
            return k in r.config.Labels && (val === undefined || r.config.Labels[k] === val);
          }
          case 'exited':
            return r.state.Status === 'exited' && String(r.state.ExitCode) === v;
          case 'volume':
            return (r.mounts ?? []).some((m) => m.Name === v || m.Destination === v || (m.Type === 'bind' && m.Source === v));
          case 'ancestor':
            return r.config.Image === v || r.imageId === v || r.imageId.replace(/^sha256:/, '').startsWith(v.replace(/^sha256:/, ''));
          default:
            return true;
        }
      });
      if (!ok) return false;
    }
    return true;
  };
}
