/** RFC 5988 Link header for the next page of a tag list or the catalog. */
export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/**
 * A JSON array of repository names or tags. Both grammars ([a-z0-9._/-], [A-Za-z0-9._-])
 * hold nothing JSON must escape, so quoting is all it takes (JSON.stringify of a page
 * showed in the catalog's profile).
 */
export function jsonStringList(items: readonly string[]): string {
  return items.length === 0 ? '[]' : `["${items.join('","')}"]`;
}
