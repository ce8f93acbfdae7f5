/**
 * Container routes of the Engine API (moby api/server/router/container): create, list,
 * inspect, start, stop, kill, restart, wait, attach, logs, rename, pause, unpause,
 * resize, top, stats, archive, delete.
 */
import type { ContainerManager, WaitCondition } from '../containers/manager.js';
import { followLog, readLogs, type LogEntry, type LogQuery } from '../containers/logs.js';
import type { CreateBody } from '../containers/plan.js';
import type { DaemonDeps } from './deps.js';
import { badParameter } from './errors.js';
import { hijack, readJson, sendEmpty, sendJson, type Call, type Router } from './router.js';
import { inspectOf, listFilter, summaryOf } from './container-views.js';
import { frame, parseDetachKeys, pipeAttach } from './streams.js';
import { registerContainerExtraRoutes } from './container-extras.js';

const RAW_STREAM = 'application/vnd.docker.raw-stream';
const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badParameter(`invalid value for ${name}: ${v}`);
  return Number(v);
}

/** `filters={"status":{"running":true}}` or `{"status":["running"]}` -> {status: ["running"]} */
export function parseFilters(raw: string | null, allowed: readonly string[]): Record<string, string[]> {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badParameter(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badParameter(`invalid filter: ${raw}`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw badParameter(`invalid filter '${k}'`);
    out[k] = Array.isArray(v) ? v.map(String) : Object.keys(v as object).filter((x) => (v as Record<string, unknown>)[x]);
  }
  return out;
}

/** `since`/`until` of logs: unix seconds (fractions allowed) or RFC 3339. */
function timeParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '' || v === '0') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw badParameter(`invalid value for ${name}: ${v}`);
  return t / 1000;
}

export function registerContainerRoutes(router: Router, deps: DaemonDeps, containers: ContainerManager): void {
  router.post('/containers/create', async (call) => {
    const body = await readJson<CreateBody>(call);
    const name = call.query.get('name') ?? undefined;
    const out = await containers.create(body, name);
    sendJson(call, 201, out);
  });

  router.get('/containers/json', (call) => {
    const all = boolParam(call.query, 'all');
    const filters = parseFilters(call.query.get('filters'), ['status', 'name', 'id', 'label', 'exited', 'ancestor', 'before', 'since', 'network', 'volume', 'health', 'isolation', 'publish', 'expose', 'is-task']);
    const keep = listFilter(filters);
    let rows = containers
      .all()
      .map((c) => c.rec)
      .filter((r) => all || filters.status || r.state.Running)
      .filter(keep)
      .sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    const limit = intParam(call.query, 'limit');
    if (limit !== undefined && limit > 0) rows = rows.slice(0, limit);
    sendJson(call, 200, rows.map(summaryOf));
  });

  router.get('/containers/{id}/json', (call) => {
    const c = containers.find(call.params.id!);
    sendJson(call, 200, inspectOf(c.rec, deps.layout, containers.execs?.idsOf(c.id) ?? [], containers.execRoot));
  });

  router.post('/containers/{id}/start', async (call) => {
    await containers.start(call.params.id!);
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/stop', async (call) => {
    await containers.stop(call.params.id!, intParam(call.query, 't'), call.query.get('signal') ?? undefined);
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/restart', async (call) => {
    await containers.restart(call.params.id!, intParam(call.query, 't'), call.query.get('signal') ?? undefined);
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/kill', async (call) => {
    await containers.kill(call.params.id!, call.query.get('signal') ?? undefined);
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/pause', async (call) => {
    await containers.pause(call.params.id!);
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/unpause', async (call) => {
    await containers.unpause(call.params.id!);
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/rename', async (call) => {
    await containers.rename(call.params.id!, call.query.get('name') ?? '');
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/resize', async (call) => {
    await containers.resize(call.params.id!, intParam(call.query, 'h') ?? 0, intParam(call.query, 'w') ?? 0);
    sendEmpty(call, 200);
  });

  router.post('/containers/{id}/wait', async (call) => {
    const condition = (call.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw badParameter(`invalid condition: "${condition}"`);
    // Registered before the headers go out: the CLI starts the container once it has them.
    const result = containers.wait(call.params.id!, condition);
    const res = call.res!;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const r = await result;
    res.end(JSON.stringify(r));
  });

  router.delete('/containers/{id}', async (call) => {
    await containers.remove(call.params.id!, boolParam(call.query, 'force'), boolParam(call.query, 'v'));
    sendEmpty(call, 204);
  });

  router.post('/containers/{id}/attach', (call) => attach(call, containers));
  router.get('/containers/{id}/logs', (call) => logs(call, deps, containers));

  registerContainerExtraRoutes(router, deps, containers);
}

async function attach(call: Call, containers: ContainerManager): Promise<void> {
  const q = call.query;
  const streams = { stdin: boolParam(q, 'stdin'), stdout: boolParam(q, 'stdout'), stderr: boolParam(q, 'stderr') };
  const detachKeys = parseDetachKeys(q.get('detachKeys'));
  const { container, socket, cancel } = containers.attach(call.params.id!, streams);
  const tty = container.rec.config.Tty;
  const client = hijack(call, call.upgrade ? RAW_STREAM : tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const gone = new Promise<null>((resolve) => (client.socket ?? client.output).once('close', () => resolve(null)));
  const shim = await Promise.race([socket.catch(() => null), gone]);
  if (!shim) {
    cancel();
    if (client.socket) client.socket.end();
    else client.output.end();
    return;
  }
  await pipeAttach(client, shim, { tty, stdin: streams.stdin && container.rec.config.OpenStdin, detachKeys });
}

async function logs(call: Call, deps: DaemonDeps, containers: ContainerManager): Promise<void> {
  const c = containers.find(call.params.id!);
  const q = call.query;
  const query: LogQuery = { stdout: boolParam(q, 'stdout'), stderr: boolParam(q, 'stderr') };
  if (!query.stdout && !query.stderr) throw badParameter('Bad parameters: you must choose at least one stream');
  if (c.rec.hostConfig.LogConfig.Type !== 'json-file') throw badParameter(`configured logging driver does not support reading`);
  const since = timeParam(q, 'since');
  const until = timeParam(q, 'until');
  if (since !== undefined) query.since = since;
  if (until !== undefined) query.until = until;
  const tail = q.get('tail');
  if (tail && tail !== 'all') {
    if (!/^\d+$/.test(tail)) throw badParameter(`invalid value for tail: ${tail}`);
    query.tail = Number(tail);
  }
  const follow = boolParam(q, 'follow');
  const timestamps = boolParam(q, 'timestamps');
  const tty = c.rec.config.Tty;
  const res = call.res!;
  res.writeHead(200, { 'Content-Type': tty ? RAW_STREAM : MULTIPLEXED_STREAM });
  const write = (e: LogEntry) => {
    const text = timestamps ? `${e.time} ${e.log}` : e.log;
    const payload = Buffer.from(text, 'utf8');
    res.write(tty ? payload : frame(e.stream === 'stderr' ? 2 : 1, payload));
  };
  const path = deps.layout.containerLogPath(c.id);
  const { entries, offset, ino } = await readLogs(path, query);
  for (const e of entries) write(e);
  const running = c.rec.state.Status === 'running' || c.rec.state.Status === 'paused' || c.rec.state.Status === 'restarting';
  if (!follow || !running || until !== undefined) {
    res.end();
    return;
  }
  res.flushHeaders();
  const { tail: _tail, ...live } = query;
  void _tail;
  const follower = followLog(path, { offset, ino }, live, write);
  // Until the client goes or the container stops (and what it wrote last was sent).
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  const stopped = c.runDone;
  await Promise.race([closed, stopped]);
  await follower.stop();
  res.end();
}
