/**
 * A tag never names a manifest the repository does not have, under any interleaving of
 * `DELETE /v2/<name>/manifests/<digest>` and a `PUT` of the same manifest under a tag
 * (issue 15: before the fix 22 of 400 rounds left a dangling tag). Each round starts both
 * requests together over real sockets, with a varying head start for one of them, from
 * the state that exposed the race: the manifest stored by digest, the tag naming another
 * manifest (so the DELETE's tag scan does not see it). Then it checks: if the tag names
 * the manifest, the manifest is there (by digest, and as a blob), and a DELETE by that
 * digest succeeds and takes the tag with it.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, test } from 'node:test';
import { buildImage, buildLayer, pushBlob, type BuiltImage } from './support/images.js';
import { startTestWharf, type TestWharf } from './support/wharf.js';

const ROUNDS = 400;
const REPO = 'race/app';

let wharf: TestWharf;
let image: BuiltImage;
let other: BuiltImage;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function call(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${wharf.url}${path}`, { method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Docker-Content-Digest of a manifest GET, or the status when it is not 200. */
function digestOf(path: string): Promise<string | number> {
  return new Promise((resolve, reject) => {
    const req = request(`${wharf.url}${path}`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['docker-content-digest']) : (res.statusCode ?? 0)));
    });
    req.on('error', reject);
    req.end();
  });
}

const put = () => call('PUT', `/v2/${REPO}/manifests/latest`, { 'Content-Type': image.mediaType }, image.manifest);
const del = () => call('DELETE', `/v2/${REPO}/manifests/${image.manifestDigest}`);

before(async () => {
  wharf = await startTestWharf();
  image = buildImage([await buildLayer([{ type: 'file', path: 'race', content: 'race\n' }])]);
  other = buildImage([await buildLayer([{ type: 'file', path: 'other', content: 'other\n' }])]);
  for (const img of [image, other]) {
    for (const l of img.layers) await pushBlob(wharf.url, REPO, l.blob, l.digest);
    await pushBlob(wharf.url, REPO, img.config, img.configDigest);
  }
});

after(async () => {
  agent.destroy();
  await wharf?.destroy();
});

test(`${ROUNDS} rounds of DELETE by digest racing PUT under a tag: the tag never dangles`, async () => {
  const outcomes = { tagged: 0, deleted: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    // The manifest stored by digest (the DELETE has something to remove), the tag elsewhere.
    assert.equal(await call('PUT', `/v2/${REPO}/manifests/${image.manifestDigest}`, { 'Content-Type': image.mediaType }, image.manifest), 201);
    assert.equal(await call('PUT', `/v2/${REPO}/manifests/latest`, { 'Content-Type': other.mediaType }, other.manifest), 201);
    const lead = round % 4;
    const racers =
      round % 2 === 0
        ? [put(), (async () => { for (let i = 0; i < lead; i++) await new Promise((r) => setImmediate(r)); return del(); })()]
        : [del(), (async () => { for (let i = 0; i < lead; i++) await new Promise((r) => setImmediate(r)); return put(); })()];
    const statuses = await Promise.all(racers);
    for (const s of statuses) assert.ok([201, 202, 404].includes(s), `round ${round}: unexpected status ${s}`);

    const byTag = await digestOf(`/v2/${REPO}/manifests/latest`);
    const byDigest = await call('GET', `/v2/${REPO}/manifests/${image.manifestDigest}`);
    if (byTag === image.manifestDigest) {
      outcomes.tagged++;
      assert.equal(byDigest, 200, `round ${round}: the tag names ${image.manifestDigest}, which the repository does not have`);
      assert.equal(await call('HEAD', `/v2/${REPO}/blobs/${image.manifestDigest}`), 200, `round ${round}: the manifest is not readable as a blob`);
      // The usual clean-up works: a DELETE by the digest takes the tag with it.
      assert.equal(await del(), 202, `round ${round}: DELETE by the tagged digest`);
      assert.equal(await call('GET', `/v2/${REPO}/manifests/latest`), 404);
    } else {
      // The DELETE came last: the manifest is gone, and the tag the PUT had moved onto it with it.
      outcomes.deleted++;
      assert.equal(byTag, 404, `round ${round}`);
      assert.equal(byDigest, 404, `round ${round}: the manifest survived the DELETE that came last`);
    }
  }
  // Both orders happened (otherwise the loop raced nothing).
  assert.ok(outcomes.tagged > 0 && outcomes.deleted > 0, JSON.stringify(outcomes));
});
