/** `wharf top` and `wharf stats --no-stream`, as docker prints them. */
import type { EngineClient } from '../engine/client.js';
import { CliError } from '../engine/client.js';
import { formatListing, tabwrite } from '../format/table.js';
import { bytesSize, humanSize, truncateId } from '../format/units.js';

export async function top(client: EngineClient, name: string, psArgs: string[]): Promise<void> {
  const res = await client.json<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${encodeURIComponent(name)}/top`, {
    query: psArgs.length > 0 ? { ps_args: psArgs.join(' ') } : {},
  });
  process.stdout.write(tabwrite([res.Titles, ...res.Processes]));
}

interface Stats {
  id?: string;
  name?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  pids_stats?: { current?: number };
}

/** docker/cli stats_helpers.go: CPU % over the sample, memory less the page cache. */
export function statsRow(s: Stats, container: string) {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const st = s.memory_stats?.stats ?? {};
  const cache = st.total_inactive_file ?? st.inactive_file ?? 0;
  const used = Math.max((s.memory_stats?.usage ?? 0) - (cache < (s.memory_stats?.usage ?? 0) ? cache : 0), 0);
  const limit = s.memory_stats?.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    if (e.op.toLowerCase() === 'write') write += e.value;
  }
  return {
    Container: container,
    ID: truncateId(s.id ?? ''),
    Name: (s.name ?? '').replace(/^\//, ''),
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(used)} / ${bytesSize(limit)}`,
    MemPerc: `${limit > 0 ? ((used / limit) * 100).toFixed(2) : '0.00'}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(read)} / ${humanSize(write)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

export async function stats(client: EngineClient, names: string[], f: { all?: boolean; noStream?: boolean; format?: string }): Promise<void> {
  if (!f.noStream) throw new CliError('wharf stats streams only with docker: use `wharf stats --no-stream` (one sample)');
  let targets = names;
  if (targets.length === 0) {
    const list = await client.json<Array<{ Id: string }>>('GET', '/containers/json', { query: { all: f.all } });
    targets = list.map((c) => c.Id);
  }
  const rows: Array<ReturnType<typeof statsRow>> = [];
  const failed: string[] = [];
  for (const n of targets) {
    try {
      const s = await client.json<Stats>('GET', `/containers/${encodeURIComponent(n)}/stats`, { query: { stream: false } });
      rows.push(statsRow(s, n));
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      failed.push(e.message);
    }
  }
  const listing = {
    defaultFormat: 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}',
    headers: {
      Container: 'CONTAINER',
      ID: 'CONTAINER ID',
      Name: 'NAME',
      CPUPerc: 'CPU %',
      MemUsage: 'MEM USAGE / LIMIT',
      MemPerc: 'MEM %',
      NetIO: 'NET I/O',
      BlockIO: 'BLOCK I/O',
      PIDs: 'PIDS',
    },
    context: (r: ReturnType<typeof statsRow>) => r,
  };
  process.stdout.write(formatListing(rows, listing, f.format));
  if (failed.length > 0) throw new CliError(failed.join('\n'));
}
