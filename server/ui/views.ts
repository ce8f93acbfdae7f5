/** The UI's pages, as functions of their data (server/ui/html.ts escapes every value). */
import type { ConfigInfo, ManifestInfo, TagSummary } from '../image-info.js';
import type { ReferrerDescriptor } from '../../storage/types.js';
import type { ImportedImage } from '../../oci/archive-import.js';
import { html, type Html } from './html.js';

export interface PageContext {
  /** the logged-in user, if any */
  user?: string;
  csrf: string;
  /** a login form is available (htpasswd users exist) */
  loginAvailable: boolean;
  /** host[:port] in `docker pull` lines */
  registryHost: string;
  /** the upload form may be offered */
  importAvailable: boolean;
}

export const repoUrl = (name: string): string => `/ui/r/${name}/`;
export const manifestUrl = (name: string, ref: string): string => `/ui/r/${name}/_/m/${ref}`;

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

export const shortDigest = (d: string): string => d.slice(0, d.indexOf(':') + 13);

function date(iso: string | undefined): Html | string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : html`<time datetime="${d.toISOString()}">${d.toISOString().replace('T', ' ').slice(0, 19)} UTC</time>`;
}

export function layout(title: string, ctx: PageContext, body: Html): Html {
  const who = ctx.user
    ? html`<span>Signed in as <strong>${ctx.user}</strong></span>
        <form method="post" action="/ui/logout"><input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit">Log out</button></form>`
    : ctx.loginAvailable
      ? html`<a class="button" href="/ui/login">Log in</a>`
      : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Wharf</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/static/ui.css">
<script src="/ui/static/ui.js" defer></script>
</head>
<body>
<header>
  <a class="brand" href="/ui/">⚓ Wharf</a>
  <nav><a href="/ui/">Repositories</a>${ctx.importAvailable ? html`<a href="/ui/import">Import</a>` : ''}</nav>
  <div class="who">${who}</div>
</header>
<main>
${body}
</main>
</body>
</html>`;
}

export function repositoriesPage(ctx: PageContext, names: string[], q: string, next: string | undefined, notice?: string): Html {
  const rows = names.map((n) => html`<tr class="repo"><td><a href="${repoUrl(n)}">${n}</a></td></tr>`);
  const nextLink = next === undefined ? '' : html`<a href="/ui/?${new URLSearchParams({ q, last: next }).toString()}">Next page →</a>`;
  const empty =
    names.length === 0
      ? html`<p class="muted">${q ? `No repository matches “${q}”.` : ctx.user || !ctx.loginAvailable ? 'No repositories yet. Push one with docker push.' : 'Log in to see the repositories you may pull.'}</p>`
      : '';
  return layout(
    'Repositories',
    ctx,
    html`${notice ? html`<div class="notice">${notice}</div>` : ''}
<h1>Repositories</h1>
<form class="toolbar" method="get" action="/ui/" role="search">
  <input type="search" name="q" value="${q}" placeholder="Filter repositories" aria-label="Filter repositories">
  <button type="submit">Filter</button>
</form>
${names.length > 0 ? html`<table id="repositories"><thead><tr><th>Name</th></tr></thead><tbody>${rows}</tbody></table>` : empty}
<div class="pager">${q || next ? html`<a href="/ui/">First page</a>` : ''}${nextLink}</div>`,
  );
}

export function tagsPage(ctx: PageContext, repo: string, tags: TagSummary[], next: string | undefined, notice?: string): Html {
  const rows = tags.map(
    (t) => html`<tr class="tag">
  <td><a href="${manifestUrl(repo, t.tag)}"><strong>${t.tag}</strong></a></td>
  <td class="digest"><a href="${manifestUrl(repo, t.digest)}" title="${t.digest}">${shortDigest(t.digest)}</a></td>
  <td>${formatBytes(t.size)}</td>
  <td>${date(t.created)}</td>
  <td>${t.platforms.map((p) => html`<span class="pill">${p}</span>`)}</td>
</tr>`,
  );
  return layout(
    repo,
    ctx,
    html`${notice ? html`<div class="notice">${notice}</div>` : ''}
<p class="muted"><a href="/ui/">Repositories</a> /</p>
<h1>${repo}</h1>
${pullLine(ctx, `${repo}:${tags[0]?.tag ?? 'latest'}`, 'pull-repo')}
<h2>Tags</h2>
${tags.length > 0
  ? html`<div class="toolbar"><input type="search" data-filter="#tags tbody tr" placeholder="Filter tags" aria-label="Filter tags"></div>
<table id="tags"><thead><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Created</th><th>Platforms</th></tr></thead><tbody>${rows}</tbody></table>`
  : html`<p class="muted">This repository has no tags.</p>`}
<div class="pager">${next ? html`<a href="${repoUrl(repo)}?last=${next}">Next page →</a>` : ''}</div>`,
  );
}

function pullLine(ctx: PageContext, ref: string, id: string): Html {
  return html`<div class="pull"><code id="${id}">docker pull ${ctx.registryHost}/${ref}</code><button type="button" data-copy="${id}">Copy</button></div>`;
}

export interface ManifestPageData {
  repo: string;
  /** the tag the page was opened by, if any */
  tag?: string;
  manifest: ManifestInfo;
  config?: ConfigInfo;
  referrers: ReferrerDescriptor[];
  canDelete: boolean;
}

function list(values: string[] | undefined): Html | string {
  return values && values.length > 0 ? html`<code>${JSON.stringify(values)}</code>` : html`<span class="muted">none</span>`;
}

export function manifestPage(ctx: PageContext, d: ManifestPageData): Html {
  const { repo, manifest: m, config } = d;
  const ref = d.tag ?? m.digest;
  const deleteForm = (what: 'tag' | 'digest', value: string, label: string) =>
    html`<form class="inline" method="post" action="/ui/r/${repo}/_/delete" data-confirm="${label}: are you sure?">
  <input type="hidden" name="csrf" value="${ctx.csrf}"><input type="hidden" name="${what}" value="${value}">
  <button type="submit" class="danger">${label}</button></form>`;
  const layers = m.layers.map(
    (l, i) => html`<tr class="layer"><td>${i + 1}</td><td class="digest" title="${l.digest}">${shortDigest(l.digest)}</td><td>${formatBytes(l.size)}</td><td><code>${l.mediaType}</code></td></tr>`,
  );
  const children = m.children.map(
    (c) => html`<tr class="child"><td><a href="${manifestUrl(repo, c.digest)}">${c.platform ?? 'unknown'}</a></td><td class="digest">${shortDigest(c.digest)}</td><td>${formatBytes(c.size)}</td><td><code>${c.mediaType}</code></td></tr>`,
  );
  const referrers = d.referrers.map(
    (r) => html`<tr class="referrer"><td><code>${r.artifactType ?? r.mediaType}</code></td><td class="digest"><a href="${manifestUrl(repo, r.digest)}">${shortDigest(r.digest)}</a></td><td>${formatBytes(r.size)}</td>
<td>${Object.entries(r.annotations ?? {}).map(([k, v]) => html`<div><span class="muted">${k}</span> ${v}</div>`)}</td></tr>`,
  );
  const labels = Object.entries(config?.labels ?? {});
  const history = (config?.history ?? []).map(
    (h) => html`<tr class="history"><td>${date(h.created)}</td><td><code>${h.createdBy ?? ''}</code>${h.comment ? html` <span class="muted">${h.comment}</span>` : ''}</td><td>${h.emptyLayer ? 'no layer' : ''}</td></tr>`,
  );
  const body = html`<p class="muted"><a href="/ui/">Repositories</a> / <a href="${repoUrl(repo)}">${repo}</a> /</p>
<h1>${repo}${d.tag ? html`:${d.tag}` : html`@${shortDigest(m.digest)}`}</h1>
${pullLine(ctx, d.tag ? `${repo}:${d.tag}` : `${repo}@${m.digest}`, 'pull-image')}
<h2>Manifest</h2>
<div class="card"><dl class="kv">
  <dt>Digest</dt><dd class="digest" id="manifest-digest">${m.digest}</dd>
  <dt>Media type</dt><dd><code>${m.mediaType}</code></dd>
  <dt>Manifest size</dt><dd>${formatBytes(m.size)}</dd>
  ${m.kind === 'image' ? html`<dt>Image size</dt><dd>${formatBytes((m.config?.size ?? 0) + m.layers.reduce((n, l) => n + l.size, 0))}</dd>` : ''}
  ${m.artifactType ? html`<dt>Artifact type</dt><dd><code>${m.artifactType}</code></dd>` : ''}
  ${m.subject ? html`<dt>Subject</dt><dd class="digest"><a href="${manifestUrl(repo, m.subject)}">${m.subject}</a></dd>` : ''}
</dl>
${d.canDelete ? html`<p>${d.tag ? deleteForm('tag', d.tag, `Delete tag ${d.tag}`) : ''} ${deleteForm('digest', m.digest, 'Delete manifest')}</p>` : ''}
</div>
${m.kind === 'index'
  ? html`<h2>Platforms</h2><table id="children"><thead><tr><th>Platform</th><th>Digest</th><th>Size</th><th>Media type</th></tr></thead><tbody>${children}</tbody></table>`
  : html`${config
      ? html`<h2>Config</h2><div class="card" id="config"><dl class="kv">
  <dt>Created</dt><dd>${date(config.created)}</dd>
  <dt>Platform</dt><dd>${config.platform ?? ''}</dd>
  <dt>Entrypoint</dt><dd>${list(config.entrypoint)}</dd>
  <dt>Cmd</dt><dd>${list(config.cmd)}</dd>
  ${config.workingDir ? html`<dt>WorkingDir</dt><dd><code>${config.workingDir}</code></dd>` : ''}
  ${config.user ? html`<dt>User</dt><dd><code>${config.user}</code></dd>` : ''}
  <dt>Env</dt><dd>${config.env.length > 0 ? config.env.map((e) => html`<div><code>${e}</code></div>`) : html`<span class="muted">none</span>`}</dd>
  <dt>Labels</dt><dd>${labels.length > 0 ? labels.map(([k, v]) => html`<div class="label"><code>${k}</code> = ${v}</div>`) : html`<span class="muted">none</span>`}</dd>
</dl></div>`
      : ''}
<h2>Layers (${m.layers.length})</h2>
<table id="layers"><thead><tr><th>#</th><th>Digest</th><th>Size</th><th>Media type</th></tr></thead><tbody>${layers}</tbody></table>
${history.length > 0 ? html`<h2>History</h2><table id="history"><thead><tr><th>Created</th><th>Created by</th><th></th></tr></thead><tbody>${history}</tbody></table>` : ''}`}
<h2>Referrers (${d.referrers.length})</h2>
${d.referrers.length > 0
  ? html`<table id="referrers"><thead><tr><th>Artifact type</th><th>Digest</th><th>Size</th><th>Annotations</th></tr></thead><tbody>${referrers}</tbody></table>`
  : html`<p class="muted">No signatures, SBOMs or other artifacts refer to this manifest.</p>`}
<h2>Raw manifest</h2>
<pre id="raw-manifest">${prettyJson(m.bytes)}</pre>`;
  return layout(`${repo}:${ref}`, ctx, body);
}

function prettyJson(bytes: Buffer): string {
  try {
    return JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2);
  } catch {
    return bytes.toString('utf8');
  }
}

export function loginPage(ctx: PageContext, error?: string, next = '/ui/'): Html {
  return layout(
    'Log in',
    ctx,
    html`<h1>Log in</h1>
${error ? html`<div class="error">${error}</div>` : ''}
<form class="card" method="post" action="/ui/login" id="login">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <input type="hidden" name="next" value="${next}">
  <label for="username">User name</label><input type="text" id="username" name="username" autocomplete="username" required>
  <label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
  <p><button type="submit" class="primary">Log in</button></p>
</form>`,
  );
}

export function importPage(ctx: PageContext, maxBytes: number, error?: string): Html {
  return layout(
    'Import',
    ctx,
    html`<h1>Import an image archive</h1>
${error ? html`<div class="error" id="import-error">${error}</div>` : ''}
<p class="muted">A <code>docker save</code> archive or an OCI image layout tar, gzip-compressed or not, up to ${formatBytes(maxBytes)}. The whole archive is verified before anything is stored.</p>
<form class="card" method="post" action="/ui/import" enctype="multipart/form-data" id="import">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="repository">Repository</label><input type="text" id="repository" name="repository" placeholder="team/app" required>
  <label for="tag">Tag <span class="muted">(empty: the archive's own tag, else latest)</span></label><input type="text" id="tag" name="tag">
  <label for="archive">Archive</label><input type="file" id="archive" name="archive" required>
  <p><button type="submit" class="primary">Import</button></p>
</form>`,
  );
}

export function importedPage(ctx: PageContext, repo: string, images: ImportedImage[]): Html {
  return layout(
    'Imported',
    ctx,
    html`<h1>Imported into ${repo}</h1>
<table id="imported"><thead><tr><th>Reference</th><th>Digest</th><th>Platforms</th></tr></thead><tbody>
${images.map(
  (i) => html`<tr><td>${i.tags.length > 0 ? i.tags.map((t) => html`<a href="${manifestUrl(repo, t)}">${repo}:${t}</a> `) : html`<a href="${manifestUrl(repo, i.digest)}">${repo}@${shortDigest(i.digest)}</a>`}</td>
<td class="digest">${i.digest}</td><td>${i.platforms.join(', ')}</td></tr>`,
)}
</tbody></table>`,
  );
}

export function errorPage(ctx: PageContext, status: number, title: string, message: string): Html {
  return layout(title, ctx, html`<h1>${status} · ${title}</h1><div class="error" id="error-message">${message}</div><p><a href="/ui/">Back to the repositories</a></p>`);
}
