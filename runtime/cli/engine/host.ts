/** Where the verbs find the daemon: -H, else WHARF_HOST, else the default socket (no I/O here). */

export const DEFAULT_WHARF_HOST = 'unix:///run/wharf/wharf.sock';

export interface HostChoice {
  host: string;
  /** the user named it (-H or WHARF_HOST): never fall back to something else */
  explicit: boolean;
}

export function resolveHost(flag: string | undefined, env: Record<string, string | undefined>): HostChoice {
  if (flag) return { host: flag, explicit: true };
  if (env.WHARF_HOST) return { host: env.WHARF_HOST, explicit: true };
  return { host: DEFAULT_WHARF_HOST, explicit: false };
}
