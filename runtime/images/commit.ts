/**
 * commit: a container's changes become an image (moby daemon/commit.go). Its overlay upper
 * dir becomes one more layer (runtime/layers/diff.ts, whiteouts for what it deleted) on top
 * of its image's layers; the new config is the container's config (its Cmd, Env, … as it
 * ran) with `--change` instructions applied, and the parent's history plus one entry (the
 * container's command, the comment, the author). The image is written through
 * ImageStore.addImage, named or dangling.
 */
import { writeLayerFromDir } from '../layers/diff.js';
import { ImageFormatError } from '../../oci/image.js';
import type { ContainerConfig } from '../../oci/image.js';
import type { ImageRecord, ImageStore } from './store.js';

export class CommitChangeError extends Error {
  override name = 'CommitChangeError';
}

export interface CommitInput {
  containerId: string;
  /** the container's upper dir, still (frozen, or not running) */
  upperDir: string;
  /** the image the container was created from */
  image: ImageRecord;
  /** the container's config (Docker's container Config) */
  config: Record<string, unknown>;
  /** path and args of the container's program: the history's created_by */
  command: string[];
  author?: string;
  comment?: string;
  /** Dockerfile instructions: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD */
  changes?: string[];
  /** NAME:TAG references to give it (none: dangling) */
  references?: string[];
}

/** The image config's `config` keys a container's config carries over (Docker's image config). */
const IMAGE_CONFIG_KEYS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell', 'ArgsEscaped'] as const;

/** A JSON array of strings, else the shell form (Docker: /bin/sh -c "<rest>"). */
function commandForm(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const parsed = JSON.parse(t) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed;
    } catch {
      /* not JSON: the shell form, as Docker falls back */
    }
  }
  return ['/bin/sh', '-c', t];
}

/** `K=V K2="v 2"` or the legacy `K V` form (ENV and LABEL). */
function keyValues(rest: string, instruction: string): Array<[string, string]> {
  const t = rest.trim();
  const first = /^(\S+)/.exec(t)?.[1] ?? '';
  if (!first.includes('=')) {
    const space = t.search(/\s/);
    if (space < 0) throw new CommitChangeError(`${instruction} needs a value: ${instruction} ${t}`);
    return [[t.slice(0, space), t.slice(space).trim()]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  for (const m of t.matchAll(re)) {
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1]!, v]);
  }
  return out;
}

/** Apply `--change` instructions to an image's container config (docker commit -c). */
export function applyChanges(config: ContainerConfig & Record<string, unknown>, changes: string[]): void {
  for (const change of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(change);
    if (!m) throw new CommitChangeError(`invalid change "${change}": expected an instruction and its arguments`);
    const instruction = m[1]!.toUpperCase();
    const rest = m[2]!;
    switch (instruction) {
      case 'CMD':
        config.Cmd = commandForm(rest);
        break;
      case 'ENTRYPOINT':
        config.Entrypoint = commandForm(rest);
        break;
      case 'ENV': {
        const env = [...(config.Env ?? [])];
        for (const [k, v] of keyValues(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=', 1)[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        config.Env = env;
        break;
      }
      case 'LABEL':
        config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(keyValues(rest, 'LABEL')) };
        break;
      case 'EXPOSE': {
        const ports = { ...(config.ExposedPorts ?? {}) };
        for (const p of rest.trim().split(/\s+/)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) throw new CommitChangeError(`invalid port "${p}" in EXPOSE`);
          ports[p.includes('/') ? p : `${p}/tcp`] = {};
        }
        config.ExposedPorts = ports;
        break;
      }
      case 'USER':
        config.User = rest.trim();
        break;
      case 'WORKDIR':
        config.WorkingDir = rest.trim();
        break;
      case 'STOPSIGNAL':
        config.StopSignal = rest.trim();
        break;
      case 'VOLUME': {
        const t = rest.trim();
        const list = t.startsWith('[') ? (JSON.parse(t) as string[]) : t.split(/\s+/);
        config.Volumes = { ...(config.Volumes ?? {}), ...Object.fromEntries(list.map((v) => [v, {}])) };
        break;
      }
      case 'ONBUILD':
        config.OnBuild = [...((config.OnBuild as string[] | undefined) ?? []), rest.trim()];
        break;
      default:
        throw new CommitChangeError(`${instruction} is not a valid change command`);
    }
  }
}

export async function commitContainer(store: ImageStore, input: CommitInput): Promise<ImageRecord> {
  const parent = await store.readConfig(input.image);
  const imageConfig: ContainerConfig & Record<string, unknown> = {};
  for (const k of IMAGE_CONFIG_KEYS) {
    const v = input.config[k];
    if (v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0 && k !== 'Cmd')) (imageConfig as Record<string, unknown>)[k] = v;
  }
  try {
    applyChanges(imageConfig, input.changes ?? []);
  } catch (e) {
    if (e instanceof SyntaxError) throw new CommitChangeError(`invalid change: ${e.message}`);
    throw e;
  }
  // the runtime's mount point stubs (an empty /etc/hosts made to mount on...) stay out, as Docker's init layer keeps them out
  const layer = await writeLayerFromDir(store.layout, input.upperDir, { dropRuntimeStubs: true });
  const created = new Date().toISOString();
  const rootfs = (parent.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? [];
  if (rootfs.length !== input.image.layers.length) throw new ImageFormatError(`the image config of ${input.image.reference} lists ${rootfs.length} layers, its record ${input.image.layers.length}`);
  const history = Array.isArray(parent.history) ? [...(parent.history as unknown[])] : [];
  const config: Record<string, unknown> = {
    ...parent,
    created,
    config: imageConfig,
    container: input.containerId,
    container_config: input.config,
    rootfs: { type: 'layers', diff_ids: [...rootfs, layer.diffId] },
    history: [...history, { created, created_by: input.command.join(' '), ...(input.author ? { author: input.author } : {}), ...(input.comment ? { comment: input.comment } : {}) }],
  };
  // moby's V1Image fields: the author and comment of this image, not its parent's.
  if (input.author) config.author = input.author;
  else delete config.author;
  if (input.comment) config.comment = input.comment;
  else delete config.comment;
  const layers = [...input.image.layers, { digest: layer.digest, size: layer.size, mediaType: layer.mediaType, diffId: layer.diffId }];
  const records = await store.addImage({ config, layers }, input.references ?? []);
  return records[0]!;
}
