/**
 * Size limits every reader of the spec's documents applies, so that a registry, the proxy
 * cache and the node agree on what is too big.
 */

/** spec: a registry may limit manifest size; 4 MiB is registry:2's limit and containerd's cap. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A tag list page read from a registry (the proxy cache asks upstreams). */
export const MAX_TAG_LIST_BYTES = 8 * 1024 * 1024;

/** Image configs are read into memory; a bigger one is refused. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
