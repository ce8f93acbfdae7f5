/**
 * The runtime node's on-disk layout: the only place that builds a path under the node
 * root. Everything else asks here.
 *
 *   <nodeRoot>/                          default /var/lib/wharf-node
 *     content/
 *       blobs/sha256/<hex>               verified blobs: manifests, indexes, configs, layers
 *       tmp/<random>                     downloads in flight (renamed into blobs/ once verified)
 *     images/<encoded reference>.json    image records: reference -> manifest, config, layers
 *     layers/
 *       <diffID hex>/                    one unpacked layer (overlayfs lower form), shared
 *       .tmp-<random>/                   unpacks in flight (renamed once complete)
 *     containers/<id>/
 *       container.json                   the container record (wharf run: name, image, state)
 *       record.json                      the daemon's container record (state machine, config)
 *       init.spec                        the wharf-init spec of its next start
 *       <id>-json.log[.N]                Docker json-file logs, written by the shim
 *       exit                             the exit status the shim recorded
 *       shim.log                         the shim's own messages
 *       exec/<exec id>/                  an exec's spec, exit file and shim log
 *       snapshot.json                    which layers the rootfs stacks (keeps them from GC)
 *       upper/ work/ rootfs/             overlay upper dir, work dir, mount point
 *       hosts hostname resolv.conf       the container's /etc files, bind-mounted (as Docker's)
 *     names/<name>                       claim of a container name: holds the container id
 *     volumes/<name>/
 *       _data/                           the volume's content (its Mountpoint, as Docker's)
 *       volume.json                      its record: labels, options, created, anonymous
 *     build/
 *       cache/<key hex>.json             build cache: a step's result (config, layers) by its key
 *       tmp/<random>/                    a build's context, extracted, while it builds
 *     networks/<id>.json                 a network's record (runtime/network/): name, subnet, bridge, options
 *
 *   <execRoot>/                          default /run/wharf (short: unix socket paths)
 *     wharf.sock                         the daemon's Engine API socket (the default -H)
 *     s/<32 hex>                         a shim's socket (container or exec id prefix)
 *     netns/<32 hex>                     a container's network namespace (a bind mount of its nsfs file)
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Digest } from '../oci/names.js';
import { digestAlgorithm, digestHex } from '../oci/names.js';

export const DEFAULT_NODE_ROOT = '/var/lib/wharf-node';

export class NodeLayout {
  constructor(readonly root: string = DEFAULT_NODE_ROOT) {}

  get blobsDir(): string {
    return join(this.root, 'content', 'blobs');
  }
  blobPath(digest: Digest): string {
    return join(this.blobsDir, digestAlgorithm(digest), digestHex(digest));
  }
  get contentTmpDir(): string {
    return join(this.root, 'content', 'tmp');
  }
  contentTmpPath(): string {
    return join(this.contentTmpDir, randomBytes(8).toString('hex'));
  }

  get imagesDir(): string {
    return join(this.root, 'images');
  }
  /** References contain '/' and ':'; encodeURIComponent keeps them one flat, reversible name. */
  imageRecordPath(reference: string): string {
    return join(this.imagesDir, `${encodeURIComponent(reference)}.json`);
  }

  get layersDir(): string {
    return join(this.root, 'layers');
  }
  /** Unpacked layers are keyed by diffID (digest of the uncompressed tar). */
  layerDirName(diffId: Digest): string {
    return digestHex(diffId);
  }
  layerDir(diffId: Digest): string {
    return join(this.layersDir, this.layerDirName(diffId));
  }
  layerTmpDir(): string {
    return join(this.layersDir, `.tmp-${randomBytes(8).toString('hex')}`);
  }

  get containersDir(): string {
    return join(this.root, 'containers');
  }
  containerDir(id: string): string {
    return join(this.containersDir, id);
  }
  /** Directories of removed containers, renamed here at once and deleted in the background. */
  get trashDir(): string {
    return join(this.root, 'trash');
  }
  containerRecordPath(id: string): string {
    return join(this.containerDir(id), 'container.json');
  }
  get buildCacheDir(): string {
    return join(this.root, 'build', 'cache');
  }
  /** `key` is 64 hex digits (a sha256), checked by the caller. */
  buildCachePath(key: string): string {
    return join(this.buildCacheDir, `${key}.json`);
  }
  buildTmpDir(): string {
    return join(this.root, 'build', 'tmp', randomBytes(8).toString('hex'));
  }
  get namesDir(): string {
    return join(this.root, 'names');
  }
  /** Container names match [a-zA-Z0-9][a-zA-Z0-9_.-]* (checked by the caller): safe as a file name. */
  nameClaimPath(name: string): string {
    return join(this.namesDir, name);
  }
  snapshotRecordPath(id: string): string {
    return join(this.containerDir(id), 'snapshot.json');
  }
  upperDir(id: string): string {
    return join(this.containerDir(id), 'upper');
  }
  workDir(id: string): string {
    return join(this.containerDir(id), 'work');
  }
  rootfsDir(id: string): string {
    return join(this.containerDir(id), 'rootfs');
  }
  hostsPath(id: string): string {
    return join(this.containerDir(id), 'hosts');
  }
  hostnamePath(id: string): string {
    return join(this.containerDir(id), 'hostname');
  }
  resolvConfPath(id: string): string {
    return join(this.containerDir(id), 'resolv.conf');
  }
  get networksDir(): string {
    return join(this.root, 'networks');
  }
  /** Network ids are 64 hex digits (checked by the caller). */
  networkRecordPath(id: string): string {
    return join(this.networksDir, `${id}.json`);
  }
  engineRecordPath(id: string): string {
    return join(this.containerDir(id), 'record.json');
  }
  initSpecPath(id: string): string {
    return join(this.containerDir(id), 'init.spec');
  }
  containerLogPath(id: string): string {
    return join(this.containerDir(id), `${id}-json.log`);
  }
  exitFilePath(id: string): string {
    return join(this.containerDir(id), 'exit');
  }
  shimLogPath(id: string): string {
    return join(this.containerDir(id), 'shim.log');
  }
  get volumesDir(): string {
    return join(this.root, 'volumes');
  }
  /** Volume names match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (checked by the caller): safe as a file name. */
  volumeDir(name: string): string {
    return join(this.volumesDir, name);
  }
  volumeDataDir(name: string): string {
    return join(this.volumeDir(name), '_data');
  }
  volumeRecordPath(name: string): string {
    return join(this.volumeDir(name), 'volume.json');
  }
  execDir(id: string, execId: string): string {
    return join(this.containerDir(id), 'exec', execId);
  }
}

export const DEFAULT_EXEC_ROOT = '/run/wharf';

/** A container's network namespace file under the exec root (survives daemon restarts, not reboots). */
export function netnsPath(execRoot: string, id: string): string {
  return join(execRoot, 'netns', id.slice(0, 32));
}

/** A shim's socket: under the exec root, named by the first 32 hex digits of its id. */
export function shimSocketPath(execRoot: string, id: string): string {
  return join(execRoot, 's', id.slice(0, 32));
}
