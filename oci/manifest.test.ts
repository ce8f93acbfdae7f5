/** parseManifest: which kind a body is, whether it is well formed, what it references. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ManifestInvalidError } from './errors.js';
import { parseManifest } from './manifest.js';
import { MediaTypes } from './media-types.js';

const dg = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const desc = (name: string, mediaType: string, extra: Record<string, unknown> = {}) => ({ mediaType, digest: dg(name), size: 100, ...extra });
const body = (json: unknown) => Buffer.from(JSON.stringify(json));

const CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

function ociImage(extra: Record<string, unknown> = {}) {
  return { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc('config', CONFIG), layers: [desc('l1', LAYER), desc('l2', LAYER)], ...extra };
}

function invalid(json: unknown, contentType: string, message?: RegExp): void {
  const buf = Buffer.isBuffer(json) ? json : typeof json === 'string' ? Buffer.from(json) : body(json);
  assert.throws(() => parseManifest(buf, contentType), (e: unknown) => e instanceof ManifestInvalidError && (!message || message.test(e.message)));
}

describe('parseManifest', () => {
  it('an OCI image manifest: its config and layers are the blobs it needs', () => {
    const p = parseManifest(body(ociImage()), MediaTypes.ociManifest);
    assert.equal(p.mediaType, MediaTypes.ociManifest);
    assert.equal(p.kind, 'image');
    assert.deepEqual(p.blobs, [dg('config'), dg('l1'), dg('l2')]);
    assert.deepEqual(p.manifests, []);
    assert.equal(p.subject, undefined);
    assert.equal(p.artifactType, undefined);
  });

  it('a Docker schema 2 manifest', () => {
    const json = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: desc('c', 'application/vnd.docker.container.image.v1+json'),
      layers: [desc('l', 'application/vnd.docker.image.rootfs.diff.tar.gzip')],
    };
    const p = parseManifest(body(json), MediaTypes.dockerManifest);
    assert.equal(p.mediaType, MediaTypes.dockerManifest);
    assert.equal(p.kind, 'image');
    assert.deepEqual(p.blobs, [dg('c'), dg('l')]);
  });

  it('an OCI index and a Docker manifest list: children are manifests it needs', () => {
    for (const mediaType of [MediaTypes.ociIndex, MediaTypes.dockerManifestList]) {
      const json = {
        schemaVersion: 2,
        mediaType,
        manifests: [desc('amd64', MediaTypes.ociManifest, { platform: { architecture: 'amd64', os: 'linux' } }), desc('arm64', MediaTypes.ociManifest)],
      };
      const p = parseManifest(body(json), mediaType);
      assert.equal(p.mediaType, mediaType);
      assert.equal(p.kind, 'index');
      assert.deepEqual(p.manifests, [dg('amd64'), dg('arm64')]);
      assert.deepEqual(p.blobs, []);
    }
  });

  it('the kind comes from the Content-Type, else the body mediaType, else the shape', () => {
    const { mediaType: _drop, ...noType } = ociImage();
    assert.equal(parseManifest(body(noType), '').mediaType, MediaTypes.ociManifest);
    assert.equal(parseManifest(body({ schemaVersion: 2, manifests: [] }), '').mediaType, MediaTypes.ociIndex);
    assert.equal(parseManifest(body(ociImage()), 'application/json').mediaType, MediaTypes.ociManifest);
    assert.equal(parseManifest(body(ociImage()), `${MediaTypes.ociManifest}; charset=utf-8`).mediaType, MediaTypes.ociManifest);
    assert.equal(parseManifest(body(noType), MediaTypes.ociManifest).mediaType, MediaTypes.ociManifest);
  });

  it('a Content-Type that contradicts the body mediaType is refused', () => {
    invalid(ociImage(), MediaTypes.dockerManifest, /does not match/);
    invalid({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] }, MediaTypes.ociManifest, /does not match/);
  });

  it('an ambiguous document (both an index and an image, CVE-2021-41190) is refused with either Content-Type', () => {
    const image = ociImage();
    const index = { schemaVersion: 2, manifests: [] as unknown[] };
    const both = [
      { ...image, manifests: [] },
      { ...index, layers: [] },
      { ...index, config: image.config },
      { ...index, config: image.config, layers: image.layers },
    ];
    for (const doc of both) {
      const { mediaType: _drop, ...untyped } = doc as Record<string, unknown>;
      for (const type of [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList, '']) {
        assert.throws(() => parseManifest(body(untyped), type), ManifestInvalidError, `accepted as ${type || 'no type'}: ${JSON.stringify(untyped)}`);
      }
    }
  });

  it('a body mediaType that differs from a Content-Type of another kind is refused', () => {
    invalid({ ...ociImage(), mediaType: MediaTypes.ociIndex }, 'application/vnd.oci.artifact.manifest.v1+json', /does not match/);
    invalid(ociImage(), 'text/plain', /does not match/);
  });

  it('Docker schema 1 is refused however it is announced', () => {
    const s1 = { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [], history: [] };
    invalid(s1, MediaTypes.dockerSchema1Signed, /schema 1/);
    invalid(s1, MediaTypes.dockerSchema1, /schema 1/);
    invalid(s1, 'application/json', /schema 1/);
    invalid({ ...ociImage(), mediaType: MediaTypes.dockerSchema1 }, '', /schema 1/);
    invalid(ociImage(), MediaTypes.dockerSchema1Signed, /schema 1/);
  });

  it('not JSON, not an object, or the wrong schemaVersion', () => {
    invalid('{', MediaTypes.ociManifest, /JSON/);
    invalid(Buffer.from([0xff, 0xfe, 0x00]), MediaTypes.ociManifest);
    invalid('[]', MediaTypes.ociManifest, /object/);
    invalid('null', MediaTypes.ociManifest, /object/);
    invalid('"str"', MediaTypes.ociManifest, /object/);
    invalid({ ...ociImage(), schemaVersion: 3 }, MediaTypes.ociManifest, /schemaVersion/);
    invalid({ ...ociImage(), schemaVersion: '2' }, MediaTypes.ociManifest, /schemaVersion/);
  });

  it('an unsupported media type is refused', () => {
    invalid({ ...ociImage(), mediaType: 'application/vnd.example.thing' }, '', /unsupported/);
    invalid({ ...ociImage(), mediaType: 'application/vnd.example.thing' }, 'application/vnd.example.thing', /unsupported/);
  });

  it('malformed descriptors are refused, naming where', () => {
    invalid(ociImage({ config: undefined }), MediaTypes.ociManifest, /config/);
    invalid(ociImage({ config: { ...desc('c', CONFIG), digest: 'sha256:short' } }), MediaTypes.ociManifest, /config\.digest/);
    invalid(ociImage({ config: { ...desc('c', CONFIG), size: -1 } }), MediaTypes.ociManifest, /config\.size/);
    invalid(ociImage({ config: { ...desc('c', CONFIG), size: 1.5 } }), MediaTypes.ociManifest, /config\.size/);
    invalid(ociImage({ config: { ...desc('c', CONFIG), mediaType: '' } }), MediaTypes.ociManifest, /config\.mediaType/);
    invalid(ociImage({ layers: [desc('l', LAYER), null] }), MediaTypes.ociManifest, /layers\[1\]/);
    invalid(ociImage({ layers: 'nope' }), MediaTypes.ociManifest, /layers/);
    invalid({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: MediaTypes.ociManifest, digest: 'md5:abc', size: 1 }] }, MediaTypes.ociIndex, /manifests\[0\]/);
    invalid({ schemaVersion: 2, mediaType: MediaTypes.ociIndex }, MediaTypes.ociIndex, /manifests/);
    invalid(ociImage({ subject: 'sha256:abc' }), MediaTypes.ociManifest, /subject/);
  });

  it('annotations must be an object of strings', () => {
    assert.deepEqual(parseManifest(body(ociImage({ annotations: { a: 'b' } })), MediaTypes.ociManifest).annotations, { a: 'b' });
    invalid(ociImage({ annotations: { a: 1 } }), MediaTypes.ociManifest, /annotations/);
    invalid(ociImage({ annotations: ['a'] }), MediaTypes.ociManifest, /annotations/);
    invalid(ociImage({ artifactType: 7 }), MediaTypes.ociManifest, /artifactType/);
  });

  it('foreign and non-distributable layers are not blobs the registry must hold', () => {
    const json = ociImage({
      layers: [
        desc('local', LAYER),
        desc('windows', MediaTypes.dockerForeignLayer, { urls: ['https://example.com/layer'] }),
        desc('nd', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'),
      ],
    });
    assert.deepEqual(parseManifest(body(json), MediaTypes.ociManifest).blobs, [dg('config'), dg('local')]);
  });

  it('subject and artifactType: explicit, or the config media type for a referrer', () => {
    const subject = desc('subject', MediaTypes.ociManifest);
    const explicit = parseManifest(body(ociImage({ subject, artifactType: 'application/vnd.example.sig' })), MediaTypes.ociManifest);
    assert.equal(explicit.subject, dg('subject'));
    assert.equal(explicit.artifactType, 'application/vnd.example.sig');
    const fromConfig = parseManifest(body(ociImage({ subject, config: desc('c', 'application/vnd.example.config') })), MediaTypes.ociManifest);
    assert.equal(fromConfig.artifactType, 'application/vnd.example.config');
    const index = parseManifest(body({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [], subject, artifactType: 'application/x' }), MediaTypes.ociIndex);
    assert.equal(index.subject, dg('subject'));
    assert.equal(index.artifactType, 'application/x');
  });

  it('sha512 digests are accepted in descriptors', () => {
    const d512 = `sha512:${createHash('sha512').update('x').digest('hex')}`;
    const p = parseManifest(body(ociImage({ layers: [{ mediaType: LAYER, digest: d512, size: 1 }] })), MediaTypes.ociManifest);
    assert.deepEqual(p.blobs, [dg('config'), d512]);
  });
});
