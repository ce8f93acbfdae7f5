/**
 * The builder: a parsed Dockerfile run step by step over an extracted context, as Docker's
 * classic builder does (moby builder/dockerfile): each step starts from the image of the
 * one before, probes the cache (cache.ts), and on a miss
 *   - metadata steps (CMD, ENV, LABEL, …) change the image config only (`empty_layer`);
 *   - COPY/ADD mount an overlay of the layers so far (no container), copy (copy.ts), and the
 *     upper dir becomes the step's layer (runtime/layers/diff.ts);
 *   - RUN runs in a container of this node's runtime (ContainerManager: create, attach,
 *     start, wait) with the step's env, user, workdir and shell; its upper dir becomes the
 *     layer; the container is removed.
 * History entries read as the classic builder's (`/bin/sh -c #(nop)  CMD ["/hello"]`).
 * Only the final image is written to the image store (ImageStore.addImage) with its tags,
 * after every step succeeded: a failed build moves no tag.
 */
import { mkdir, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Socket } from 'node:net';
import type { NodeLayout } from '../../layout.js';
import type { ImageRecord, ImageStore, LayerRecord } from '../store.js';
import type { ContainerManager } from '../../containers/manager.js';
import { prepareSnapshot, removeSnapshot } from '../../layers/snapshots.js';
import { writeLayerFromDir } from '../../layers/diff.js';
import { resolveUser } from '../../containers/user.js';
import { FrameReader } from '../../daemon/streams.js';
import { DockerfileError, parseDockerfile, parseJsonArray, type Instruction } from './dockerfile.js';
import { processWord, processWords, SubstitutionError } from './shell-words.js';
import { cacheKey, imageIdOf, lookupCache, storeCache } from './cache.js';
import { addUrl, checksumSources, checksumUrl, copySources, CopyError, resolveSources, type Owner } from './copy.js';
import type { Digest } from '../../../oci/names.js';

export class BuildError extends Error {
  override name = 'BuildError';
  constructor(
    message: string,
    /** the exit code of a failed RUN (the docker CLI exits with it) */
    readonly code = 1,
  ) {
    super(message);
  }
}

export interface BuildRequest {
  /** the extracted context */
  contextDir: string;
  /** sha256 of the context's files by host path, from the extraction (context.ts ContextDigests) */
  contextDigests?: ReadonlyMap<string, string>;
  dockerfileText: string;
  dockerfileName: string;
  tags: string[];
  buildArgs: Record<string, string>;
  noCache: boolean;
  target?: string;
  networkMode: string;
  labels: Record<string, string>;
}

export interface BuildDeps {
  layout: NodeLayout;
  images: ImageStore;
  containers: ContainerManager;
  /** a base image not on the node yet */
  pull(reference: string): Promise<ImageRecord>;
}

export interface BuildOutput {
  stream(text: string): void;
}

type Config = Record<string, unknown> & { config: Record<string, unknown>; history: Array<Record<string, unknown>>; rootfs: { type: string; diff_ids: string[] } };

interface Stage {
  name: string | undefined;
  config: Config;
  layers: LayerRecord[];
  /** image ID of the current state; '' while at scratch with no step */
  id: string;
  args: Map<string, string>;
  index: number;
  /** a CMD was given in this stage (ENTRYPOINT then keeps it) */
  cmdSet?: boolean;
}

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const PREDEFINED_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

const short = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

function scratchConfig(): Config {
  return {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: null, Entrypoint: null, WorkingDir: '', User: '', Labels: null, OnBuild: null },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

function envMap(config: Config): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of (config.config.Env as string[] | null) ?? []) {
    const i = e.indexOf('=');
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

function setEnv(config: Config, key: string, value: string): void {
  const env = ((config.config.Env as string[] | null) ?? []).filter((e) => !e.startsWith(`${key}=`));
  const old = ((config.config.Env as string[] | null) ?? []).findIndex((e) => e.startsWith(`${key}=`));
  if (old >= 0) env.splice(old, 0, `${key}=${value}`);
  else env.push(`${key}=${value}`);
  config.config.Env = env;
}

/** `k=v k2="v 2"` pairs (ENV, LABEL) or the legacy `ENV k v` form. */
function keyValues(ins: Instruction, vars: Map<string, string>, escape: string): Array<[string, string]> {
  const args = ins.args.trim();
  const first = /^(\S+)/.exec(args)![1]!;
  if (!first.includes('=')) {
    if (ins.keyword === 'LABEL') throw new DockerfileError(ins.line, `LABEL must have two arguments`);
    const m = /^(\S+)\s+([\s\S]*)$/.exec(args);
    if (!m) throw new DockerfileError(ins.line, `${ins.keyword} must have two arguments`);
    return [[processWord(m[1]!, vars, escape), processWord(m[2]!, vars, escape)]];
  }
  const out: Array<[string, string]> = [];
  for (const word of splitKeepQuotes(args, escape)) {
    const i = word.indexOf('=');
    if (i <= 0) throw new DockerfileError(ins.line, `${ins.keyword} names can not be blank`);
    out.push([processWord(word.slice(0, i), vars, escape), processWord(word.slice(i + 1), vars, escape)]);
  }
  return out;
}

/** Whitespace-separated words with quotes kept (expanded later, one by one). */
function splitKeepQuotes(s: string, escape: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === escape && i + 1 < s.length && quote !== "'") {
      cur += c + s[++i];
    } else if (quote) {
      if (c === quote) quote = '';
      cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (/\s/.test(c)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

export class Builder {
  private stages: Stage[] = [];
  private usedArgs = new Set<string>();
  private escape = '\\';
  private metaArgs = new Map<string, string>();
  private containersStarted = 0;

  constructor(
    private readonly req: BuildRequest,
    private readonly deps: BuildDeps,
    private readonly out: BuildOutput,
  ) {}

  /** Runs the build; the image ID of the result. */
  async run(): Promise<string> {
    try {
      return await this.runSteps();
    } finally {
      // a failed build still finishes what its good steps started (cache entries, removals)
      await Promise.allSettled(this.pending);
    }
  }

  /**
   * Work a step starts and the next step need not wait for: a layer blob's fsync and rename
   * (writeLayerFromDir deferStore), the cache entry that names it, the removal of an
   * intermediate container or snapshot. All of it is done before the image is written and
   * before the build answers.
   */
  private readonly pending: Array<Promise<unknown>> = [];
  /** layer blob digest -> its fsync and rename into the content store */
  private readonly storing = new Map<string, Promise<void>>();
  /** digests of layer blobs known to be in the content store, diffIDs of layers known unpacked */
  private readonly presentBlobs = new Set<string>();
  private readonly unpackedLayers = new Set<string>();

  private defer(work: Promise<unknown>): void {
    work.catch(() => undefined); // a failure surfaces where the build awaits `pending`, not as an unhandled rejection
    this.pending.push(work);
  }

  private async runSteps(): Promise<string> {
    const df = parseDockerfile(this.req.dockerfileText, this.req.dockerfileName);
    this.escape = df.escape;
    const all = df.instructions;
    let i = 0;
    for (; i < all.length && all[i]!.keyword === 'ARG'; i++) {
      for (const [k, v] of this.argDecls(all[i]!, new Map())) if (v !== undefined) this.metaArgs.set(k, v);
    }
    const body = all.slice(i);
    if (body.length === 0 || body[0]!.keyword !== 'FROM') throw new DockerfileError(body[0]?.line ?? 0, 'no build stage in current context', this.req.dockerfileName);
    // --target: the build stops after that stage
    let last = body.length;
    if (this.req.target) {
      const at = body.findIndex((ins) => ins.keyword === 'FROM' && /\s+AS\s+(\S+)\s*$/i.exec(ins.args)?.[1]?.toLowerCase() === this.req.target!.toLowerCase());
      if (at < 0) throw new BuildError(`failed to reach build target ${this.req.target} in Dockerfile`);
      const next = body.findIndex((ins, j) => j > at && ins.keyword === 'FROM');
      last = next < 0 ? body.length : next;
    }
    const steps = body.slice(0, last);
    let stage: Stage | undefined;
    for (let n = 0; n < steps.length; n++) {
      const ins = steps[n]!;
      this.out.stream(`Step ${n + 1}/${steps.length} : ${ins.original}\n`);
      try {
        if (ins.keyword === 'FROM') {
          stage = await this.from(ins);
          this.stages.push(stage);
        } else {
          await this.step(stage!, ins);
        }
      } catch (e) {
        throw this.located(ins, e);
      }
      if (stage && (ins.keyword !== 'FROM' || stage.id)) this.out.stream(` ---> ${stage.id ? short(stage.id) : ''}\n`);
    }
    stage = stage!;
    const unused = Object.keys(this.req.buildArgs).filter((k) => !this.usedArgs.has(k) && !PREDEFINED_ARGS.includes(k) && !this.metaArgs.has(k));
    if (unused.length) this.out.stream(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (Object.keys(this.req.labels).length > 0) {
      const cfg = structuredClone(stage.config);
      cfg.config.Labels = { ...((cfg.config.Labels as Record<string, string> | null) ?? {}), ...this.req.labels };
      stage.config = cfg;
      stage.id = imageIdOf(cfg);
    }
    if (!stage.id) throw new BuildError('No image was generated. Is your Dockerfile empty?');
    await Promise.all(this.pending);
    const [rec] = await this.deps.images.addImage({ config: stage.config, layers: stage.layers }, this.req.tags);
    return rec!.configDigest;
  }

  /** How many containers this build started (RUN steps that missed the cache). */
  get started(): number {
    return this.containersStarted;
  }

  private located(ins: Instruction, e: unknown): Error {
    if (e instanceof DockerfileError) return e;
    const where = `${this.req.dockerfileName}:${ins.line}`;
    if (e instanceof BuildError) return new BuildError(`${where}: ${e.message}`, e.code);
    if (e instanceof CopyError || e instanceof SubstitutionError) return new BuildError(`${where}: ${e.message}`);
    const err = e as Error;
    return new BuildError(`${where}: ${err.message}`);
  }

  private vars(stage: Stage): Map<string, string> {
    const m = new Map(stage.args);
    for (const [k, v] of envMap(stage.config)) m.set(k, v);
    return m;
  }

  /** ARG declarations: name -> value (the build arg, else the default, else undefined). */
  private argDecls(ins: Instruction, vars: Map<string, string>): Array<[string, string | undefined]> {
    const out: Array<[string, string | undefined]> = [];
    for (const w of splitKeepQuotes(ins.args, this.escape)) {
      const i = w.indexOf('=');
      const name = i < 0 ? w : w.slice(0, i);
      const dflt = i < 0 ? undefined : processWord(w.slice(i + 1), vars, this.escape);
      this.usedArgs.add(name);
      out.push([name, Object.hasOwn(this.req.buildArgs, name) ? this.req.buildArgs[name] : dflt]);
    }
    return out;
  }

  /* ---------- FROM ---------- */

  private async from(ins: Instruction): Promise<Stage> {
    const platform = ins.flags.platform ? processWord(ins.flags.platform, this.metaArgs, this.escape) : undefined;
    if (platform && platform !== 'linux/amd64') throw new BuildError(`platform ${platform} is not supported on this node: only linux/amd64`);
    const words = processWords(ins.args, this.metaArgs, this.escape);
    if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as')) throw new DockerfileError(ins.line, 'FROM requires either one or three arguments', this.req.dockerfileName);
    const ref = words[0]!;
    const name = words[2]?.toLowerCase();
    const index = this.stages.length;
    if (ref.toLowerCase() === 'scratch') return { name, config: scratchConfig(), layers: [], id: '', args: new Map(), index };
    const prior = this.stages.find((s) => s.name === ref.toLowerCase());
    if (prior) return { name, config: structuredClone(prior.config), layers: [...prior.layers], id: prior.id, args: new Map(), index };
    let rec = await this.deps.images.get(ref).catch(() => undefined);
    if (!rec) {
      this.out.stream(`Pulling image ${ref}\n`);
      rec = await this.deps.pull(ref);
    }
    const [, config] = (await Promise.all([this.ensureUnpacked(rec.layers), this.deps.images.readConfig(rec)])) as [void, Config];
    config.history ??= [];
    config.config ??= {};
    const stage: Stage = { name, config, layers: [...rec.layers], id: rec.configDigest, args: new Map(), index };
    const triggers = (config.config.OnBuild as string[] | null) ?? [];
    if (triggers.length > 0) {
      this.out.stream(` ---> ${short(stage.id)}\n`);
      this.out.stream(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      const cfg = structuredClone(config);
      cfg.config.OnBuild = null;
      stage.config = cfg;
      for (const t of triggers) {
        const trig = parseDockerfile(t, this.req.dockerfileName).instructions[0]!;
        await this.step(stage, { ...trig, line: ins.line });
      }
    }
    return stage;
  }

  /* ---------- the other instructions ---------- */

  private async step(stage: Stage, ins: Instruction): Promise<void> {
    const vars = this.vars(stage);
    const w = (s: string) => processWord(s, vars, this.escape);
    const cfg = structuredClone(stage.config);
    const c = cfg.config;
    const nop = (text: string) => `/bin/sh -c #(nop) ${text}`;
    switch (ins.keyword) {
      case 'RUN':
        return this.runStep(stage, ins);
      case 'COPY':
      case 'ADD':
        return this.copyStep(stage, ins);
      case 'ARG': {
        for (const [k, v] of this.argDecls(ins, vars)) {
          const value = v ?? this.metaArgs.get(k);
          if (value !== undefined) stage.args.set(k, value);
          else stage.args.delete(k);
        }
        return this.metaStep(stage, cfg, nop(`ARG ${ins.args}`), true);
      }
      case 'ENV': {
        for (const [k, v] of keyValues(ins, vars, this.escape)) setEnv(cfg, k, v);
        return this.metaStep(stage, cfg, nop(` ENV ${keyValues(ins, vars, this.escape).map(([k, v]) => `${k}=${v}`).join(' ')}`));
      }
      case 'LABEL': {
        const labels = { ...((c.Labels as Record<string, string> | null) ?? {}) };
        const kv = keyValues(ins, vars, this.escape);
        for (const [k, v] of kv) labels[k] = v;
        c.Labels = labels;
        return this.metaStep(stage, cfg, nop(` LABEL ${kv.map(([k, v]) => `${k}=${v}`).join(' ')}`));
      }
      case 'MAINTAINER':
        cfg.author = w(ins.args);
        return this.metaStep(stage, cfg, nop(` MAINTAINER ${cfg.author as string}`));
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = ins.json ?? (ins.args.trim() === '' ? [] : [...this.shell(stage), ins.args]);
        if (ins.keyword === 'CMD') {
          c.Cmd = argv;
          stage.cmdSet = true;
        }
        else {
          c.Entrypoint = argv;
          // moby: ENTRYPOINT resets a CMD inherited from the base image
          if (!stage.cmdSet) c.Cmd = null;
        }
        return this.metaStep(stage, cfg, nop(` ${ins.keyword} ${JSON.stringify(argv)}`));
      }
      case 'EXPOSE': {
        const ports = { ...((c.ExposedPorts as Record<string, object> | undefined) ?? {}) };
        const words = processWords(ins.args, vars, this.escape);
        for (const p of words) ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
        c.ExposedPorts = ports;
        return this.metaStep(stage, cfg, nop(` EXPOSE ${Object.keys(ports).sort().join(' ')}`));
      }
      case 'VOLUME': {
        const vols = { ...((c.Volumes as Record<string, object> | undefined) ?? {}) };
        const list = ins.json ?? processWords(ins.args, vars, this.escape);
        for (const v of list) {
          if (v.trim() === '') throw new BuildError('VOLUME specified can not be an empty string');
          vols[w(v)] = {};
        }
        c.Volumes = vols;
        return this.metaStep(stage, cfg, nop(` VOLUME ${JSON.stringify(list)}`));
      }
      case 'USER':
        c.User = w(ins.args.trim());
        return this.metaStep(stage, cfg, nop(` USER ${c.User as string}`));
      case 'WORKDIR': {
        const dir = w(ins.args.trim());
        c.WorkingDir = posix.normalize(dir.startsWith('/') ? dir : posix.join((c.WorkingDir as string) || '/', dir));
        return this.metaStep(stage, cfg, nop(` WORKDIR ${c.WorkingDir as string}`));
      }
      case 'STOPSIGNAL':
        c.StopSignal = w(ins.args.trim());
        return this.metaStep(stage, cfg, nop(` STOPSIGNAL ${c.StopSignal as string}`));
      case 'SHELL':
        c.Shell = ins.json!;
        return this.metaStep(stage, cfg, nop(` SHELL ${JSON.stringify(ins.json)}`));
      case 'ONBUILD':
        c.OnBuild = [...((c.OnBuild as string[] | null) ?? []), ins.trigger!.original];
        return this.metaStep(stage, cfg, nop(` ONBUILD ${ins.trigger!.original}`));
      case 'HEALTHCHECK': {
        const rest = ins.args.trim();
        if (/^none$/i.test(rest)) c.Healthcheck = { Test: ['NONE'] };
        else {
          const m = /^CMD\s+([\s\S]*)$/i.exec(rest);
          if (!m) throw new DockerfileError(ins.line, 'Unknown type in HEALTHCHECK (try CMD)', this.req.dockerfileName);
          const json = parseJsonArray(m[1]!);
          const hc: Record<string, unknown> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', m[1]!] };
          const dur = (k: string) => (ins.flags[k] ? parseDuration(ins.flags[k]!, ins.line) : undefined);
          if (dur('interval') !== undefined) hc.Interval = dur('interval');
          if (dur('timeout') !== undefined) hc.Timeout = dur('timeout');
          if (dur('start-period') !== undefined) hc.StartPeriod = dur('start-period');
          if (ins.flags.retries) hc.Retries = Number(ins.flags.retries);
          c.Healthcheck = hc;
        }
        return this.metaStep(stage, cfg, nop(` HEALTHCHECK &{${JSON.stringify(c.Healthcheck)}}`));
      }
      case 'FROM':
        throw new BuildError('FROM inside a stage'); // unreachable: run() handles FROM
    }
  }

  private shell(stage: Stage): string[] {
    return (stage.config.config.Shell as string[] | undefined) ?? DEFAULT_SHELL;
  }

  /** Commit (or find in the cache) a step that changes only the config. */
  private async metaStep(stage: Stage, cfg: Config, createdBy: string, noHistory = false): Promise<void> {
    if (noHistory) {
      // ARG changes no image config (the classic builder commits it only for the cache)
      return;
    }
    await this.commit(stage, createdBy, async () => ({ cfg, layer: undefined }));
  }

  /**
   * The cache probe and commit every step shares: a hit takes the cached result; a miss
   * runs `make` (which may produce a layer) and records the result for the next build.
   */
  private async commit(stage: Stage, createdBy: string, make: () => Promise<{ cfg: Config; layer: LayerRecord | undefined }>, extraKey = ''): Promise<void> {
    const key = cacheKey(stage.id, createdBy + extraKey);
    if (!this.req.noCache) {
      const hit = await lookupCache(this.deps.layout, key);
      if (hit && (await this.layersPresent(hit.layers))) {
        this.out.stream(' ---> Using cache\n');
        stage.config = hit.config as Config;
        stage.layers = hit.layers;
        stage.id = hit.id;
        return;
      }
    }
    const { cfg, layer } = await make();
    cfg.created = new Date().toISOString();
    cfg.history = [...(stage.config.history ?? []), { created: cfg.created, created_by: createdBy, ...(layer ? {} : { empty_layer: true }) }];
    if (layer) {
      stage.layers = [...stage.layers, layer];
      cfg.rootfs = { type: 'layers', diff_ids: stage.layers.map((l) => l.diffId) };
    } else {
      cfg.rootfs = { type: 'layers', diff_ids: stage.layers.map((l) => l.diffId) };
    }
    const parent = stage.id;
    stage.config = cfg;
    stage.id = imageIdOf(cfg);
    // the entry names the layers: it is written once their blobs are in the store
    const entry = { key, parent, id: stage.id, config: cfg, layers: stage.layers };
    const blobs = stage.layers.map((l) => this.storing.get(l.digest)).filter((p) => p !== undefined);
    this.defer(Promise.all(blobs).then(() => storeCache(this.deps.layout, entry)));
  }

  private async layersPresent(layers: LayerRecord[]): Promise<boolean> {
    for (const l of layers) {
      if (this.presentBlobs.has(l.digest)) continue;
      if (!this.deps.images.hasBlobSync(l.digest as Digest)) return false;
      this.presentBlobs.add(l.digest);
    }
    return true;
  }

  /** The stage's layers unpacked (each looked at once per build). */
  private async ensureUnpacked(layers: LayerRecord[]): Promise<void> {
    const missing = layers.filter((l) => !this.unpackedLayers.has(l.diffId));
    if (missing.length === 0) return;
    await this.deps.images.layerDirs({ layers: missing } as ImageRecord);
    for (const l of missing) this.unpackedLayers.add(l.diffId);
  }

  /* ---------- RUN ---------- */

  private async runStep(stage: Stage, ins: Instruction): Promise<void> {
    const argv = ins.json ?? [...this.shell(stage), ins.args];
    // Build args in effect reach RUN as env and are part of its cache key (`|1 K=v /bin/sh -c …`).
    const declared = [...stage.args.entries()].filter(([k]) => !envMap(stage.config).has(k));
    const prefix = declared.length > 0 ? `|${declared.length} ${declared.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
    const createdBy = `${prefix}${argv.join(' ')}`;
    await this.commit(stage, createdBy, async () => {
      const layer = await this.runContainer(stage, argv, declared.map(([k, v]) => `${k}=${v}`), ins);
      return { cfg: structuredClone(stage.config), layer };
    });
  }

  private async runContainer(stage: Stage, argv: string[], env: string[], ins: Instruction): Promise<LayerRecord> {
    const cm = this.deps.containers;
    const image: ImageRecord = {
      reference: stage.id || 'scratch',
      registry: '',
      repository: '',
      digest: stage.id as Digest,
      mediaType: '',
      configDigest: (stage.id || 'sha256:') as Digest,
      platform: { os: 'linux', architecture: 'amd64' },
      config: stage.config.config as ImageRecord['config'],
      layers: stage.layers,
      size: 0,
      pulledAt: new Date().toISOString(),
    };
    await this.ensureUnpacked(stage.layers);
    const { Id: id } = await cm.create(
      {
        Image: stage.id || 'scratch',
        Cmd: argv,
        Entrypoint: [''],
        Env: env,
        AttachStdout: true,
        AttachStderr: true,
        HostConfig: { NetworkMode: this.req.networkMode, LogConfig: { Type: 'none', Config: {} } },
      },
      undefined,
      image,
    );
    this.out.stream(` ---> Running in ${short(id)}\n`);
    try {
      const attach = cm.attach(id, { stdin: false, stdout: true, stderr: true });
      const relayed = attach.socket.then((s) => this.relay(s));
      const exited = cm.wait(id, 'next-exit');
      this.containersStarted++;
      await cm.start(id);
      await relayed.catch(() => undefined);
      const { StatusCode } = await exited;
      if (StatusCode !== 0) {
        throw new BuildError(`The command '${argv.join(' ')}' returned a non-zero code: ${StatusCode}`, StatusCode);
      }
      return await this.layerOf(this.deps.layout.upperDir(id), true);
    } finally {
      // the upper dir is the layer now (or the step failed): the rest of the removal need not hold up the next step
      this.defer(cm.remove(id, true, true).catch(() => undefined));
      this.out.stream(`Removing intermediate container ${short(id)}\n`);
      void ins;
    }
  }

  /** The container's output into the build stream, until its attach stream ends. */
  private relay(socket: Socket): Promise<void> {
    const frames = new FrameReader();
    return new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) =>
        frames.push(chunk, (stream, payload) => {
          if (stream === 1 || stream === 2) this.out.stream(payload.toString('utf8'));
          else if (stream === 0xff) socket.end();
        }),
      );
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
  }

  /** `container`: a RUN container's upper dir (its runtime's mount point stubs are left out, as Docker's init layer keeps them out) */
  private async layerOf(upper: string, container = false): Promise<LayerRecord> {
    const d = await writeLayerFromDir(this.deps.layout, upper, { adopt: true, deferStore: true, ...(container ? { dropRuntimeStubs: true } : {}) });
    this.storing.set(d.digest, d.stored);
    this.defer(d.stored);
    this.unpackedLayers.add(d.diffId);
    return { digest: d.digest, size: d.size, mediaType: d.mediaType, diffId: d.diffId };
  }

  /* ---------- COPY / ADD ---------- */

  private async copyStep(stage: Stage, ins: Instruction): Promise<void> {
    const vars = this.vars(stage);
    const words = ins.json ? ins.json.map((x) => processWord(x, vars, this.escape)) : processWords(ins.args, vars, this.escape);
    const dest = words.pop()!;
    const what = ins.keyword;
    const chown = ins.flags.chown ? processWord(ins.flags.chown, vars, this.escape) : undefined;
    let fromRoot: { root: string; done: () => Promise<void> } | undefined;
    try {
      if (ins.flags.from) fromRoot = await this.fromRoot(processWord(ins.flags.from, vars, this.escape));
      const root = fromRoot?.root ?? this.req.contextDir;
      const urls = what === 'ADD' ? words.filter((s) => /^https?:\/\//.test(s)) : [];
      const paths = words.filter((s) => !urls.includes(s));
      const sources = paths.length > 0 ? await resolveSources(root, paths, what) : [];
      const sums = [await checksumSources(sources, fromRoot ? undefined : this.req.contextDigests), ...(await Promise.all(urls.map(checksumUrl)))];
      const kind = sources.length + urls.length > 1 ? 'multi' : sources[0]?.isDir ? 'dir' : 'file';
      const createdBy = `/bin/sh -c #(nop) ${what} ${kind}:${sums.join(',')} in ${dest} `;
      const extra = JSON.stringify([chown ?? '', ins.flags.from ?? '', ins.flags.chmod ?? '']);
      await this.commit(
        stage,
        createdBy,
        async () => {
          const layer = await this.withStepRootfs(stage, async (rootfs, scratch) => {
            const owner: Owner | undefined = chown ? await this.owner(rootfs, chown) : undefined;
            const base = { rootfs, dest, workdir: (stage.config.config.WorkingDir as string) || '/', scratchDir: scratch, ...(owner ? { owner } : {}) };
            if (sources.length > 0) await copySources(sources, { ...base, extractArchives: what === 'ADD' && !fromRoot }, what);
            for (const u of urls) await addUrl(u, base);
          });
          return { cfg: structuredClone(stage.config), layer };
        },
        extra,
      );
    } finally {
      await fromRoot?.done();
    }
  }

  private async owner(rootfs: string, chown: string): Promise<Owner> {
    const [user, group] = chown.split(':', 2) as [string, string | undefined];
    const u = await resolveUser(rootfs, user).catch((e: Error) => {
      throw new BuildError(`unable to convert uid/gid chown string to host mapping: ${e.message}`);
    });
    if (group === undefined) return { uid: u.uid, gid: u.gid };
    const g = await resolveUser(rootfs, `${u.uid}:${group}`).catch((e: Error) => {
      throw new BuildError(`unable to convert uid/gid chown string to host mapping: ${e.message}`);
    });
    return { uid: u.uid, gid: g.gid };
  }

  private snapshotSeq = 0;

  /** An overlay of the stage's layers for one COPY/ADD; its upper dir becomes the layer. */
  private async withStepRootfs(stage: Stage, f: (rootfs: string, scratch: string) => Promise<void>): Promise<LayerRecord> {
    const layout = this.deps.layout;
    const id = `build-${process.pid}-${Date.now().toString(36)}-${this.snapshotSeq++}`;
    await this.ensureUnpacked(stage.layers);
    // volatile: the unmount does not sync the whole filesystem of the node root (what an
    // overlay unmount otherwise does); the upper dir becomes an unpacked layer dir, which is
    // no more durable than any other (unpack writes none with fsync), while the layer's
    // blob is fsynced before anything names it
    const snap = await prepareSnapshot(layout, id, stage.layers.map((l) => l.diffId), { volatile: true });
    const scratch = posix.join(layout.containerDir(id), 'scratch');
    try {
      await mkdir(scratch, { recursive: true });
      await f(snap.rootfs, scratch);
      await rm(scratch, { recursive: true, force: true });
      const { unmountSnapshot } = await import('../../layers/snapshots.js');
      await unmountSnapshot(layout, id);
      return await this.layerOf(snap.upperDir);
    } finally {
      this.defer(removeSnapshot(layout, id).catch(() => undefined));
    }
  }

  /** `COPY --from=`: a previous stage (by name or index) or an image, mounted read-only. */
  private async fromRoot(from: string): Promise<{ root: string; done: () => Promise<void> }> {
    const byName = this.stages.find((s) => s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? this.stages[Number(from)] : undefined);
    let layers: LayerRecord[];
    if (byName) layers = byName.layers;
    else {
      const rec = (await this.deps.images.get(from).catch(() => undefined)) ?? (await this.deps.pull(from));
      await this.deps.images.layerDirs(rec);
      layers = rec.layers;
    }
    for (const l of layers) await this.deps.images.layerDirs({ layers: [l] } as ImageRecord);
    const id = `build-from-${process.pid}-${Date.now().toString(36)}-${this.snapshotSeq++}`;
    const snap = await prepareSnapshot(this.deps.layout, id, layers.map((l) => l.diffId), { readOnly: true });
    return { root: snap.rootfs, done: () => removeSnapshot(this.deps.layout, id) };
  }
}

/** Go durations as HEALTHCHECK takes them (30s, 1m30s, 500ms) -> nanoseconds. */
function parseDuration(s: string, line: number): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== s.length || s === '') throw new DockerfileError(line, `time: invalid duration "${s}"`);
  return Math.round(total);
}
