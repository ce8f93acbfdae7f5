/**
 * POST /commit?container=&repo=&tag=&author=&comment=&pause=&changes= (moby
 * api/server/router/image: postCommit): the container's changes as a new image
 * (runtime/images/commit.ts), answered 201 {"Id"}. A running container is frozen
 * (cgroup freezer) while its upper dir is read, unless pause=0; the body, a container
 * Config, overrides the container's own (dockerd merges it the same way).
 */
import type { ContainerManager } from '../containers/manager.js';
import type { DaemonDeps } from './deps.js';
import { readJson, sendJson, type Call, type Router } from './router.js';
import { EngineError, badParameter, conflict } from './errors.js';
import { boolParam } from './containers.js';

export function registerCommitRoute(router: Router, deps: DaemonDeps, containers: ContainerManager): void {
  router.post('/commit', (call) => commit(call, deps, containers));
}

async function commit(call: Call, deps: DaemonDeps, containers: ContainerManager): Promise<void> {
  const ref = call.query.get('container');
  if (!ref) throw badParameter('container is required: POST /commit?container=NAME');
  const overrides = await readJson<Record<string, unknown> | null>(call, {});
  if (overrides !== null && (typeof overrides !== 'object' || Array.isArray(overrides))) throw badParameter('the request body must be a container config (a JSON object)');
  const repo = call.query.get('repo') ?? '';
  const tag = call.query.get('tag') ?? '';
  if (!repo && tag) throw badParameter('tag requires a repo');
  let references: string[] = [];
  if (repo) {
    try {
      references = [deps.images.parse(`${repo}:${tag || 'latest'}`)].map((r) => `${r.registry}/${r.repository}:${r.tag}`);
    } catch (e) {
      throw badParameter(`invalid reference format: ${(e as Error).message}`);
    }
  }
  const c = containers.find(ref);
  const s = c.rec.state.Status;
  if (s === 'removing' || s === 'dead') throw conflict(`You cannot commit container ${c.id} which is ${s}`);
  const image = await deps.images.get(c.rec.imageId);
  if (!image) throw new EngineError('conflict', `the image ${c.rec.imageId} of container ${c.id} is no longer on this node: it cannot be committed`);
  const config = { ...c.rec.config, ...(overrides ?? {}) } as Record<string, unknown>;
  const run = async (): Promise<string> => {
    try {
      const { commitContainer } = await import('../images/commit.js');
      const rec = await commitContainer(deps.images, {
        containerId: c.id,
        upperDir: deps.layout.upperDir(c.id),
        image,
        config,
        command: [c.rec.path, ...c.rec.args],
        changes: call.query.getAll('changes').flatMap((x) => x.split('\n')).filter((x) => x.trim() !== ''),
        references,
        ...(call.query.get('author') ? { author: call.query.get('author')! } : {}),
        ...(call.query.get('comment') ? { comment: call.query.get('comment')! } : {}),
      });
      return rec.configDigest;
    } catch (e) {
      if (e instanceof (await import('../images/commit.js')).CommitChangeError) throw badParameter(e.message);
      throw e;
    }
  };
  // pause (default): the freezer holds a running container still while its changes are read.
  const id = boolParam(call.query, 'pause', true) && s === 'running' ? await containers.withRootfs(c.id, () => run()) : await run();
  deps.events.emit('container', 'commit', c.id, { ...(references[0] ? { comment: references[0] } : {}) });
  sendJson(call, 201, { Id: id });
}
