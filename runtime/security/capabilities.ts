/**
 * Linux capabilities by name, and Docker's rules for --cap-add, --cap-drop and
 * --privileged (moby oci/caps TweakCapabilities). A capability set is a 64-bit mask
 * (bit n = capability n), the form the init helper takes.
 */
import { readFileSync } from 'node:fs';

/** Index = capability number (linux/capability.h). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default set (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export class CapabilityError extends Error {
  override name = 'CapabilityError';
}

let lastCap: number | undefined;
/** The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap), capped at the names we know. */
export function kernelLastCapability(): number {
  if (lastCap === undefined) {
    let n = CAPABILITY_NAMES.length - 1;
    try {
      n = Math.min(n, Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim()));
    } catch {
      /* no procfs: every capability we know */
    }
    lastCap = n;
  }
  return lastCap;
}

let current: bigint | undefined;
/** This process's effective set (/proc/self/status CapEff): what a container can be given at
 * all (containerd's cap.Current, which moby's GetAllCapabilities uses). */
export function hostCapabilities(): bigint {
  if (current === undefined) {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    current = m ? BigInt(`0x${m[1]}`) : (1n << BigInt(kernelLastCapability() + 1)) - 1n;
  }
  return current;
}

/** Every capability of this kernel that this node holds: moby's GetAllCapabilities ("all
 * capabilities that are available in the current environment"). */
export function allCapabilities(): string[] {
  const have = hostCapabilities();
  return CAPABILITY_NAMES.slice(0, kernelLastCapability() + 1).filter((_, i) => (have >> BigInt(i)) & 1n);
}

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "all" -> "ALL" (Docker's
 * NormalizeLegacyCapabilities: a capability this node does not hold is refused too). */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  const i = CAPABILITY_NAMES.indexOf(full);
  if (i < 0) throw new CapabilityError(`unknown capability: "${full}"`);
  if (i > kernelLastCapability() || !((hostCapabilities() >> BigInt(i)) & 1n)) {
    throw new CapabilityError(`capability not supported by your kernel or not available in the current environment: "${full}"`);
  }
  return full;
}

/** Docker's TweakCapabilities: the container's capability names. */
export function tweakCapabilities(options: { add?: readonly string[]; drop?: readonly string[]; privileged?: boolean }): string[] {
  if (options.privileged) return allCapabilities();
  const add = (options.add ?? []).map(normalizeCapability);
  const drop = (options.drop ?? []).map(normalizeCapability);
  if (add.length === 0 && drop.length === 0) return [...DOCKER_DEFAULT_CAPABILITY_NAMES];
  if (add.includes('ALL')) return allCapabilities().filter((c) => !drop.includes(c));
  if (drop.includes('ALL')) return [...new Set(add)];
  const caps = DOCKER_DEFAULT_CAPABILITY_NAMES.filter((c) => !drop.includes(c));
  for (const c of add) if (!caps.includes(c)) caps.push(c);
  return caps;
}

export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const n of names) {
    const i = CAPABILITY_NAMES.indexOf(n);
    if (i < 0) throw new CapabilityError(`unknown capability: "${n}"`);
    mask |= 1n << BigInt(i);
  }
  return mask;
}

export function capabilityNames(mask: bigint): string[] {
  return CAPABILITY_NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}
