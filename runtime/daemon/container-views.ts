/**
 * How containers look on the wire: `GET /containers/{id}/json` (inspect) and the rows of
 * `GET /containers/json` (list), in moby's shapes (api/types ContainerJSON, Container).
 */
import type { NodeLayout } from '../layout.js';
import type { ContainerRecord } from '../containers/container.js';
import { mountView } from '../volumes/mount-points.js';

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
    Ports: [],
    Labels: r.config.Labels,
    State: r.state.Status,
    Status: statusText(r),
    HostConfig: { NetworkMode: r.hostConfig.NetworkMode },
    NetworkSettings: { Networks: {} },
    Mounts: (r.mounts ?? []).map(mountView),
  };
}

export function inspectOf(r: ContainerRecord, layout: NodeLayout, execIds: string[]): Record<string, unknown> {
  return {
    Id: r.id,
    Created: r.created,
    Path: r.path,
    Args: r.args,
    State: r.state,
    Image: r.imageId,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
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
    NetworkSettings: { Bridge: '', SandboxID: '', Ports: {}, SandboxKey: '', Networks: {} },
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
