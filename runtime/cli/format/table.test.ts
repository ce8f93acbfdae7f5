import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatListing, tabwrite } from './table.js';
import { bytesSize, ellipsis, humanDuration, humanSize, truncateId } from './units.js';

test('tabwrite: columns of max(width + 3, 10); the last column unpadded (docker formatter)', () => {
  assert.equal(tabwrite([['CONTAINER ID', 'NAMES'], ['abc', 'x']]), 'CONTAINER ID   NAMES\nabc            x\n');
  assert.equal(tabwrite([['A', 'B', 'C']]), 'A         B         C\n');
});

test('a table --format gets each field\'s header; other formats print one line per item', () => {
  const listing = { defaultFormat: 'table {{.ID}}\t{{.Names}}', headers: { ID: 'CONTAINER ID', Names: 'NAMES' }, context: (x: { id: string; n: string }) => ({ ID: x.id, Names: x.n }) };
  const items = [
    { id: '0123456789ab', n: 'web' },
    { id: 'ba9876543210', n: 'db' },
  ];
  assert.equal(formatListing(items, listing, undefined), 'CONTAINER ID   NAMES\n0123456789ab   web\nba9876543210   db\n');
  assert.equal(formatListing(items, listing, '{{.Names}}'), 'web\ndb\n');
  assert.equal(formatListing(items, listing, 'json'), '{"ID":"0123456789ab","Names":"web"}\n{"ID":"ba9876543210","Names":"db"}\n');
  assert.equal(formatListing([], listing, undefined), 'CONTAINER ID   NAMES\n');
});

test('units read as go-units writes them', () => {
  assert.equal(humanDuration(400), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(59_000), '59 seconds');
  assert.equal(humanDuration(61_000), 'About a minute');
  assert.equal(humanDuration(5 * 60_000), '5 minutes');
  assert.equal(humanDuration(3_600_000), 'About an hour');
  assert.equal(humanDuration(30 * 3_600_000), '30 hours');
  assert.equal(humanDuration(3 * 86_400_000), '3 days');
  assert.equal(humanDuration(20 * 86_400_000), '2 weeks');
  assert.equal(humanDuration(100 * 86_400_000), '3 months');
  assert.equal(humanDuration(800 * 86_400_000), '2 years');
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(1_982_256), '1.98MB');
  assert.equal(humanSize(868_000), '868kB');
  assert.equal(humanSize(1_000), '1kB');
  assert.equal(bytesSize(1536 * 1024), '1.5MiB');
  assert.equal(ellipsis("sh -c 'echo hello; sleep 100'", 20), "sh -c 'echo hello; …");
  assert.equal(ellipsis('short', 20), 'short');
  assert.equal(truncateId('sha256:1ead5a5a1c3ae9fc18d3'), '1ead5a5a1c3a');
});
