/**
 * What the network room stores: network records (one JSON file each under the node root)
 * and, in each container record, its endpoints (Docker's EndpointSettings, by network
 * name) and the host ports published for its current run.
 */

export interface NetworkRecord {
  Id: string;
  Name: string;
  Created: string;
  Scope: 'local';
  Driver: 'bridge';
  EnableIPv6: false;
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: Array<{ Subnet: string; Gateway: string }> };
  Internal: boolean;
  Attachable: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** the bridge interface */
  bridge: string;
  /** inter-container traffic allowed (com.docker.network.bridge.enable_icc) */
  icc: boolean;
  /** the default network ("bridge"): no embedded DNS, --link works there */
  isDefault: boolean;
}

/** Docker's EndpointSettings, as inspect shows it, and where the endpoint sits. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  MacAddress: string;
  DriverOpts: null;
  /** the interface in the container (eth0, eth1, ...) and the host end of its veth, while it runs */
  ifname?: string;
  hostIf?: string;
}

export interface PublishedPort {
  proto: 'tcp' | 'udp';
  containerPort: number;
  /** as asked: '' (every address) or an address */
  hostIp: string;
  hostPort: number;
}

export function emptyEndpoint(networkId: string, aliases: string[] | null, links: string[] | null, ipv4?: string): EndpointSettings {
  return {
    IPAMConfig: ipv4 ? { IPv4Address: ipv4 } : null,
    Links: links,
    Aliases: aliases,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: '',
    DriverOpts: null,
  };
}
