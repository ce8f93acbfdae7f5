/**
 * `-v`, `--mount`, `--tmpfs` and `--volumes-from` of run/create, turned into the create
 * body's fields as the docker CLI does (cli/command/container/opts.go, opts/mount.go):
 * `-v src:dst[:mode]` -> HostConfig.Binds, `-v /dst` -> Config.Volumes, `--mount k=v,...`
 * -> HostConfig.Mounts, `--tmpfs /dst[:opts]` -> HostConfig.Tmpfs. The daemon validates
 * the rest (runtime/volumes/mount-points.ts).
 */
import { resolve } from 'node:path';
import { CliError } from '../engine/client.js';
import { parseSize } from '../../containers/run-options.js';

export interface VolumeFlags {
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  volumesFrom?: string[];
}

const BOOL: Record<string, boolean> = { '': true, '1': true, true: true, True: true, '0': false, false: false, False: false };

function bool(key: string, value: string): boolean {
  const b = BOOL[value];
  if (b === undefined) throw new CliError(`invalid argument "${value}" for "--mount" flag: invalid value for ${key}: ${value}`, 125);
  return b;
}

/** docker/cli opts.MountOpt.Set */
export function parseMountFlag(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> & { Type: string } = { Type: 'volume' };
  const bindOptions: Record<string, unknown> = {};
  const volumeOptions: Record<string, unknown> = {};
  const tmpfsOptions: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const driverOpts: Record<string, string> = {};
  let driver = '';
  const bad = (why: string) => new CliError(`invalid argument "${spec}" for "--mount" flag: ${why}`, 125);
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase().trim();
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0 && !['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive'].includes(key)) throw bad(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case 'type':
        m.Type = value;
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = value;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = bool(key, value);
        break;
      case 'consistency':
        m.Consistency = value;
        break;
      case 'bind-propagation':
        bindOptions.Propagation = value;
        break;
      case 'bind-nonrecursive':
        bindOptions.NonRecursive = bool(key, value);
        break;
      case 'volume-nocopy':
        volumeOptions.NoCopy = bool(key, value);
        break;
      case 'volume-label': {
        const i = value.indexOf('=');
        labels[i < 0 ? value : value.slice(0, i)] = i < 0 ? '' : value.slice(i + 1);
        break;
      }
      case 'volume-driver':
        driver = value;
        break;
      case 'volume-opt': {
        const i = value.indexOf('=');
        driverOpts[i < 0 ? value : value.slice(0, i)] = i < 0 ? '' : value.slice(i + 1);
        break;
      }
      case 'tmpfs-size':
        try {
          tmpfsOptions.SizeBytes = parseSize('tmpfs-size', value);
        } catch {
          throw bad(`invalid value for tmpfs-size: ${value}`);
        }
        break;
      case 'tmpfs-mode': {
        if (!/^[0-7]+$/.test(value)) throw bad(`invalid value for tmpfs-mode: ${value}`);
        tmpfsOptions.Mode = parseInt(value, 8);
        break;
      }
      default:
        throw bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (Object.keys(labels).length || driver || Object.keys(driverOpts).length) {
    volumeOptions.Labels = labels;
    volumeOptions.DriverConfig = { Name: driver, Options: driverOpts };
  }
  if (Object.keys(bindOptions).length) m.BindOptions = bindOptions;
  if (Object.keys(volumeOptions).length) m.VolumeOptions = volumeOptions;
  if (Object.keys(tmpfsOptions).length) m.TmpfsOptions = tmpfsOptions;
  return m;
}

/** The create body's volume fields for these flags (empty fields left out). */
export function volumeFields(f: VolumeFlags): { binds: string[]; volumes: Record<string, object>; mounts: Record<string, unknown>[]; tmpfs: Record<string, string>; volumesFrom: string[] } {
  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of f.volume ?? []) {
    const parts = v.split(':');
    // docker/cli: a lone path is an anonymous volume (Config.Volumes); a host part "./x" or "." is made absolute.
    if (parts.length === 1) {
      volumes[v] = {};
      continue;
    }
    if (parts[0] === '.' || parts[0]!.startsWith('./')) parts[0] = resolve(parts[0]!);
    binds.push(parts.join(':'));
  }
  const tmpfs: Record<string, string> = {};
  for (const t of f.tmpfs ?? []) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  return { binds, volumes, mounts: (f.mount ?? []).map(parseMountFlag), tmpfs, volumesFrom: f.volumesFrom ?? [] };
}
