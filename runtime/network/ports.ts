/**
 * Published ports, in the docker CLI's words (docker/go-connections nat.ParsePortSpec):
 *
 *   -p 8080:80          host port 8080 on every address -> container port 80/tcp
 *   -p 127.0.0.1:8080:80[/udp]
 *   -p 127.0.0.1::80    a random host port on 127.0.0.1
 *   -p 80               a random host port on every address
 *   -p 8000-8001:80-81  ranges of equal length
 *
 * and the Engine API's shapes: ExposedPorts {"80/tcp": {}} and PortBindings
 * {"80/tcp": [{HostIp, HostPort}]}.
 */
import { isIPv4 } from 'node:net';

export class PortSpecError extends Error {
  override name = 'PortSpecError';
}

export type Proto = 'tcp' | 'udp';
export interface HostBinding {
  HostIp: string;
  HostPort: string;
}
export type PortBindings = Record<string, HostBinding[]>;

function port(what: string, s: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new PortSpecError(`invalid ${what}: ${s}`);
  return Number(s);
}

function range(what: string, s: string): [number, number] {
  const [a, b] = s.split('-');
  const lo = port(what, a!);
  const hi = b === undefined ? lo : port(what, b);
  if (hi < lo) throw new PortSpecError(`invalid ${what} range: ${s}`);
  return [lo, hi];
}

/** "80/tcp" -> [80, 'tcp']. */
export function parsePortKey(key: string): [number, Proto] {
  const [p, proto = 'tcp'] = key.split('/');
  if (proto !== 'tcp' && proto !== 'udp') throw new PortSpecError(`invalid proto: ${proto} (tcp or udp)`);
  return [port('port', p!), proto];
}

/** One -p value -> entries of PortBindings (and so of ExposedPorts). */
export function parsePublish(spec: string): PortBindings {
  let rest = spec;
  let proto: Proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp') throw new PortSpecError(`invalid proto: ${p} (tcp or udp)`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  let hostPart = '';
  let ctrPart: string;
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  const parts = bracket ? [bracket[1]!, ...bracket[2]!.split(':')] : rest.split(':');
  if (parts.length === 1) ctrPart = parts[0]!;
  else if (parts.length === 2) [hostPart, ctrPart] = parts as [string, string];
  else if (parts.length === 3) [hostIp, hostPart, ctrPart] = parts as [string, string, string];
  else throw new PortSpecError(`invalid port specification: ${spec}`);
  if (hostIp !== '' && !isIPv4(hostIp)) throw new PortSpecError(`invalid IP address: ${hostIp} (this node publishes on IPv4 addresses)`);
  const [clo, chi] = range('containerPort', ctrPart);
  const out: PortBindings = {};
  if (hostPart === '') {
    for (let p = clo; p <= chi; p++) out[`${p}/${proto}`] = [{ HostIp: hostIp, HostPort: '' }];
    return out;
  }
  const [hlo, hhi] = range('hostPort', hostPart);
  if (hhi - hlo !== chi - clo && hlo !== hhi) throw new PortSpecError(`invalid ranges specified for container and host Ports: ${ctrPart} and ${hostPart}`);
  for (let p = clo; p <= chi; p++) {
    const hp = hlo === hhi && clo !== chi ? `${hlo}` : `${hlo + (p - clo)}`;
    (out[`${p}/${proto}`] ??= []).push({ HostIp: hostIp, HostPort: hp });
  }
  return out;
}

export function mergeBindings(specs: string[]): PortBindings {
  const out: PortBindings = {};
  for (const s of specs) for (const [k, v] of Object.entries(parsePublish(s))) (out[k] ??= []).push(...v);
  return out;
}

/** Validates the Engine API's PortBindings (what the docker CLI sends) into our shape. */
export function checkPortBindings(raw: unknown): PortBindings {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new PortSpecError('PortBindings must be an object');
  const out: PortBindings = {};
  for (const [key, list] of Object.entries(raw as Record<string, unknown>)) {
    parsePortKey(key);
    const k = key.includes('/') ? key : `${key}/tcp`;
    if (list === null) continue;
    if (!Array.isArray(list)) throw new PortSpecError(`PortBindings[${key}] must be an array`);
    for (const b of list as Array<Record<string, unknown>>) {
      const ip = typeof b?.HostIp === 'string' ? b.HostIp : '';
      const hp = typeof b?.HostPort === 'string' ? b.HostPort : '';
      if (ip !== '' && ip !== '0.0.0.0' && !isIPv4(ip)) throw new PortSpecError(`invalid host IP: ${ip}`);
      if (hp !== '') port('host port', hp);
      (out[k] ??= []).push({ HostIp: ip, HostPort: hp });
    }
  }
  return out;
}
