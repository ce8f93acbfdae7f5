/**
 * The less central container routes: top (the host's `ps`, filtered to the container's
 * processes, as dockerd does), stats (`stream=false`: one sample from its cgroup) and
 * archive (docker cp: HEAD stats a path, GET tars it, PUT extracts a tar into a dir).
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
import { archivePath, extractInto, statPath } from '../containers/archive.js';

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
    const stat = await containers.withRootfs(call.params.id!, (rootfs) => statPath(rootfs, path, call.params.id!));
    call.res!.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    call.res!.end();
  });
  router.get('/containers/{id}/archive', async (call) => {
    const path = call.query.get('path') ?? '';
    await containers.withRootfs(call.params.id!, async (rootfs) => {
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
    await containers.withRootfs(call.params.id!, (rootfs) => extractInto(rootfs, path, call.req, call.params.id!));
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
    if (boolParam(call.query, 'stream', true) && !boolParam(call.query, 'one-shot')) {
      throw badParameter('only stream=false is supported by this node');
    }
    const running = c.rec.state.Status === 'running' || c.rec.state.Status === 'paused';
    const s = running && c.cgroup ? await c.cgroup.stats() : undefined;
    const limit = c.rec.hostConfig.Memory > 0 ? c.rec.hostConfig.Memory : totalmem();
    const now = new Date().toISOString();
    const zeroCpu = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
    sendJson(call, 200, {
      read: running ? now : '0001-01-01T00:00:00Z',
      preread: '0001-01-01T00:00:00Z',
      name: `/${c.rec.name}`,
      id: c.id,
      pids_stats: s ? { current: s.pidsCurrent } : {},
      blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: s
        ? { cpu_usage: { total_usage: s.cpuUsageNs, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: await systemCpuNs(), online_cpus: cpus().length, throttling_data: zeroCpu.throttling_data }
        : zeroCpu,
      precpu_stats: zeroCpu,
      memory_stats: s ? { usage: s.memoryUsageBytes, max_usage: s.memoryMaxUsageBytes ?? 0, stats: {}, limit } : {},
    });
  });
}
