/**
 * The less central container routes: top (the host's `ps`, filtered to the container's
 * processes, as dockerd does), stats (one sample from its cgroup; with stream=true one a
 * second) and archive (docker cp: HEAD stats a path, GET tars it, PUT extracts a tar into a dir).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { ContainerManager } from '../containers/manager.js';
import type { DaemonDeps } from './deps.js';
import { badParameter, conflict, EngineError } from './errors.js';
import { sendJson, type Router } from './router.js';
import { boolParam } from './containers.js';
// docker cp's tar code (tar-stream) loads on the first archive request.
const archive = () => import('../containers/archive.js');

const execFileP = promisify(execFile);

/** /proc/stat's cpu line in nanoseconds (USER_HZ is 100 on Linux). */
async function systemCpuNs(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1, 8).map(Number).reduce((a, b) => a + b, 0);
  return ticks * 1e7;
}

export function registerContainerExtraRoutes(router: Router, deps: DaemonDeps, containers: ContainerManager): void {
  void deps;
  const statHeader = (s: object) => Buffer.from(JSON.stringify(s)).toString('base64');
  router.head('/containers/{id}/archive', async (call) => {
    const path = call.query.get('path') ?? '';
    const stat = await containers.withRootfs(call.params.id!, async (rootfs) => (await archive()).statPath(rootfs, path, call.params.id!));
    call.res!.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    call.res!.end();
  });
  router.get('/containers/{id}/archive', async (call) => {
    const path = call.query.get('path') ?? '';
    await containers.withRootfs(call.params.id!, async (rootfs) => {
      const { archivePath, statPath } = await archive();
      const stat = await statPath(rootfs, path, call.params.id!);
      const tarball = await archivePath(rootfs, path, call.params.id!);
      const res = call.res!;
      res.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
      await new Promise<void>((resolve) => {
        tarball.on('error', () => {
          res.destroy();
          resolve();
        });
        res.on('close', () => resolve());
        tarball.pipe(res);
      });
    });
  });
  router.put('/containers/{id}/archive', async (call) => {
    const path = call.query.get('path') ?? '';
    if (!path) throw badParameter('path is required');
    await containers.withRootfs(call.params.id!, async (rootfs) => (await archive()).extractInto(rootfs, path, call.req, call.params.id!));
    call.res!.writeHead(200);
    call.res!.end();
  });
  router.get('/containers/{id}/top', async (call) => {
    const c = containers.find(call.params.id!);
    if (c.rec.state.Status !== 'running' && c.rec.state.Status !== 'paused') throw conflict(`Container ${c.id} is not running`);
    const psArgs = (call.query.get('ps_args') || '-ef').trim();
    if (!/^[-a-zA-Z0-9 ,=%]*$/.test(psArgs)) throw badParameter(`invalid ps_args: ${psArgs}`);
    const pids = new Set((await c.cgroup?.procs()) ?? []);
    let out: string;
    try {
      out = (await execFileP('ps', psArgs.split(/\s+/).filter(Boolean), { maxBuffer: 16 << 20 })).stdout;
    } catch (e) {
      throw new EngineError('system', `ps: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
    }
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    const titles = (lines[0] ?? '').trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw badParameter(`Couldn't find PID field in ps output`);
    const processes = lines.slice(1).flatMap((l) => {
      const fields = l.trim().split(/\s+/);
      if (!pids.has(Number(fields[pidCol]))) return [];
      // The last column (the command) keeps its spaces.
      const head = fields.slice(0, titles.length - 1);
      return [[...head, fields.slice(titles.length - 1).join(' ')]];
    });
    sendJson(call, 200, { Titles: titles, Processes: processes });
  });

  router.get('/containers/{id}/stats', async (call) => {
    const c = containers.find(call.params.id!);
    const stream = boolParam(call.query, 'stream', true) && !boolParam(call.query, 'one-shot');
    const zeroCpu = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
    type Cpu = typeof zeroCpu & { system_cpu_usage?: number; online_cpus?: number };
    let pre: { read: string; cpu: Cpu } = { read: '0001-01-01T00:00:00Z', cpu: zeroCpu };
    const running = () => c.rec.state.Status === 'running' || c.rec.state.Status === 'paused';
    /** One sample from the container's cgroup; precpu_stats is the previous sample's (dockerd's stream). */
    const sample = async () => {
      const live = running();
      const s = live && c.cgroup ? await c.cgroup.stats().catch(() => undefined) : undefined;
      const limit = c.rec.hostConfig.Memory > 0 ? c.rec.hostConfig.Memory : totalmem();
      const read = live ? new Date().toISOString() : '0001-01-01T00:00:00Z';
      const cpu: Cpu = s
        ? { cpu_usage: { total_usage: s.cpuUsageNs, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: await systemCpuNs(), online_cpus: cpus().length, throttling_data: zeroCpu.throttling_data }
        : zeroCpu;
      const body = {
        read,
        preread: pre.read,
        name: `/${c.rec.name}`,
        id: c.id,
        pids_stats: s ? { current: s.pidsCurrent } : {},
        blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
        num_procs: 0,
        storage_stats: {},
        cpu_stats: cpu,
        precpu_stats: pre.cpu,
        memory_stats: s ? { usage: s.memoryUsageBytes, max_usage: s.memoryMaxUsageBytes ?? 0, stats: {}, limit } : {},
      };
      pre = { read, cpu };
      return body;
    };
    if (!stream) {
      sendJson(call, 200, await sample());
      return;
    }
    // stream=true: a sample a second, one JSON document per line, until the client goes
    // away or the container is no longer running (the docker CLI's `docker stats`).
    const res = call.res;
    if (!res) throw badParameter('stats cannot be hijacked');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    let closed = false;
    let wake: (() => void) | undefined;
    res.on('close', () => {
      closed = true;
      wake?.();
    });
    for (;;) {
      const body = await sample();
      if (closed) return;
      res.write(`${JSON.stringify(body)}\n`);
      if (!running()) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      if (closed) return;
    }
    res.end();
  });
}
