import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeFirestoreSnapshot, encodeFirestoreSnapshot, SnapshotError } from '../../local/firestore/snapshot.js';
import type { StoredDocument } from '../../local/firestore/query.js';
import type { FsValue } from '../../local/firestore/values.js';
import { decodeComputeSnapshot, encodeComputeSnapshot, recordedAddress, type InstanceRecord } from '../../local/compute/snapshot.js';
import { loadState, StateFileError, StateWriter, writeFileAtomic } from '../../local/state.js';

const DB = 'projects/warmer-local/databases/(default)/documents';
const doc = (id: string, fields: Record<string, FsValue>, t = 1_700_000_000_000_000): StoredDocument => ({
  name: `${DB}/pools/${id}`,
  fields: new Map(Object.entries(fields)),
  createTime: t,
  updateTime: t + 5,
});

const roundTrip = (docs: StoredDocument[]) => decodeFirestoreSnapshot(JSON.parse(JSON.stringify(encodeFirestoreSnapshot(docs))));

describe('Firestore snapshot: every value kind survives encode → JSON → decode', () => {
  const values: Array<[string, FsValue]> = [
    ['null', { kind: 'null' }],
    ['true', { kind: 'boolean', value: true }],
    ['false', { kind: 'boolean', value: false }],
    ['integer', { kind: 'integer', value: -9_007_199_254_740_991 }],
    ['double', { kind: 'double', value: 1.5 }],
    ['NaN', { kind: 'double', value: NaN }],
    ['Infinity', { kind: 'double', value: Infinity }],
    ['-Infinity', { kind: 'double', value: -Infinity }],
    ['-0', { kind: 'double', value: -0 }],
    ['timestamp', { kind: 'timestamp', micros: 1_700_000_000_123_456 }],
    ['string', { kind: 'string', value: 'héllo "quoted" \n' }],
    ['bytes', { kind: 'bytes', value: new Uint8Array([0, 1, 254, 255]) }],
    ['reference', { kind: 'reference', value: `${DB}/instances/m-1` }],
    ['geo', { kind: 'geo', latitude: 52.1, longitude: -4.5 }],
    [
      'array',
      {
        kind: 'array',
        values: [
          { kind: 'integer', value: 1 },
          { kind: 'string', value: 'x' },
        ],
      },
    ],
    ['map', { kind: 'map', fields: new Map<string, FsValue>([['a', { kind: 'map', fields: new Map([['b', { kind: 'null' }]]) }]]) }],
  ];
  it.each(values)('%s', (_name, value) => {
    const [back] = roundTrip([doc('p', { v: value })]);
    expect(back!.fields.get('v')).toEqual(value);
    if (value.kind === 'double') expect(Object.is((back!.fields.get('v') as { value: number }).value, value.value)).toBe(true);
  });

  it('keeps names and times, sorted by name', () => {
    const docs = [doc('b', {}, 10), doc('a', { n: { kind: 'integer', value: 3 } }, 20)];
    expect(roundTrip(docs)).toEqual([docs[1], docs[0]]);
  });
});

describe('Firestore snapshot: a damaged file is refused, saying where', () => {
  const good = () => JSON.parse(JSON.stringify(encodeFirestoreSnapshot([doc('p', { v: { kind: 'string', value: 'x' } })])));
  const cases: Array<[string, (s: any) => unknown, RegExp]> = [
    ['not an object', () => 'text', /snapshot/],
    ['wrong version', (s) => ({ ...s, version: 2 }), /snapshot\.version/],
    ['no documents', (s) => ({ ...s, documents: undefined }), /snapshot\.documents/],
    ['bad name', (s) => ((s.documents[0].name = 'pools/p'), s), /documents\[0\]\.name/],
    ['duplicate', (s) => ((s.documents = [s.documents[0], s.documents[0]]), s), /duplicate/],
    ['bad time', (s) => ((s.documents[0].updateTime = 'soon'), s), /documents\[0\]\.updateTime/],
    ['unknown value type', (s) => ((s.documents[0].fields.v = { textValue: 'x' }), s), /documents\[0\]\.fields\.v: unknown value type/],
    ['two value types', (s) => ((s.documents[0].fields.v = { stringValue: 'x', nullValue: null }), s), /exactly one/],
    ['integer not a string of digits', (s) => ((s.documents[0].fields.v = { integerValue: '1.5' }), s), /integerValue/],
    [
      'nested bad value',
      (s) => ((s.documents[0].fields.v = { mapValue: { fields: { a: { arrayValue: { values: [{ booleanValue: 'yes' }] } } } } }), s),
      /fields\.v\.a\[0\]/,
    ],
  ];
  it.each(cases)('%s', (_name, damage, where) => {
    expect(() => decodeFirestoreSnapshot(damage(good()))).toThrow(SnapshotError);
    expect(() => decodeFirestoreSnapshot(damage(good()))).toThrow(where);
  });
});

const instance = (name: string, ip: string | null, extra: Record<string, unknown> = {}): InstanceRecord => ({
  zone: 'us-central1-a',
  createdAt: 1_700_000_000_000,
  resource: {
    name,
    status: 'RUNNING',
    labels: { 'warmer-pool': 'ci' },
    networkInterfaces: [{ networkIP: ip ?? '' }],
    metadata: { items: [{ key: 'ssh-keys', value: 'admin:ssh-ed25519 AAAA' }] },
    ...extra,
  },
});

describe('Compute snapshot', () => {
  it('round-trips instances and the host key, sorted by zone and name', () => {
    const snap = encodeComputeSnapshot('KEY', [instance('m-b', '127.1.0.2'), instance('m-a', '127.1.0.1')]);
    const back = decodeComputeSnapshot(JSON.parse(JSON.stringify(snap)));
    expect(back.hostKey).toBe('KEY');
    expect(back.instances.map((i) => i.resource.name)).toEqual(['m-a', 'm-b']);
    expect(back.instances[0]).toEqual(instance('m-a', '127.1.0.1'));
  });

  it.each([
    ['an address', instance('m', '127.3.4.5'), '127.3.4.5'],
    ['none yet', instance('m', null), null],
    ['not loopback', instance('m', '10.0.0.1'), null],
  ])('recordedAddress: %s', (_n, rec, want) => expect(recordedAddress(rec)).toBe(want));

  const cases: Array<[string, (s: any) => unknown, RegExp]> = [
    ['wrong version', (s) => ({ ...s, version: 9 }), /snapshot\.version/],
    ['bad zone', (s) => ((s.instances[0].zone = 'moon'), s), /instances\[0\]\.zone/],
    ['bad name', (s) => ((s.instances[0].resource.name = 'Bad_Name'), s), /instances\[0\]\.resource\.name/],
    ['labels not strings', (s) => ((s.instances[0].resource.labels = { a: 1 }), s), /labels/],
    ['no metadata', (s) => (delete s.instances[0].resource.metadata, s), /metadata/],
    ['duplicate', (s) => ((s.instances = [s.instances[0], s.instances[0]]), s), /duplicate/],
  ];
  it.each(cases)('refuses %s', (_n, damage, where) => {
    const good = JSON.parse(JSON.stringify(encodeComputeSnapshot(null, [instance('m', '127.0.0.9')])));
    expect(() => decodeComputeSnapshot(damage(good))).toThrow(where);
  });
});

describe('state files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warmer-state-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an empty directory is empty state', () => {
    expect(loadState(join(dir, 'none'))).toEqual({ documents: [], compute: null });
  });

  it('writes atomically: the file is whole and no temporary file is left', () => {
    const file = join(dir, 'x.json');
    writeFileAtomic(file, '{"a":1}');
    writeFileAtomic(file, '{"a":2}');
    expect(readFileSync(file, 'utf8')).toBe('{"a":2}');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('saves only when something changed, and loads what it saved', () => {
    const state = join(dir, 'state');
    let changes = 1;
    const docs = [doc('p', { v: { kind: 'integer', value: 7 } })];
    let instances = [instance('m', '127.0.0.5')];
    const writer = new StateWriter(state, { firestoreChanges: () => changes, documents: () => docs, compute: () => encodeComputeSnapshot('K', instances) });
    writer.save();
    expect(writer.writes).toBe(2);
    writer.save();
    expect(writer.writes).toBe(2);
    changes++;
    writer.save();
    expect(writer.writes).toBe(3);
    instances = [];
    writer.save();
    expect(writer.writes).toBe(4);
    const loaded = loadState(state);
    expect(loaded.documents).toEqual(docs);
    expect(loaded.compute).toEqual({ version: 1, hostKey: 'K', instances: [] });
  });

  it('a damaged file is an error naming the file and --fresh', () => {
    const state = join(dir, 'damaged');
    new StateWriter(state, { firestoreChanges: () => 0, documents: () => [], compute: () => encodeComputeSnapshot(null, []) }).save();
    writeFileSync(join(state, 'firestore.json'), '{"version":1,"documents":[');
    expect(() => loadState(state)).toThrow(StateFileError);
    expect(() => loadState(state)).toThrow(/firestore\.json.*--fresh/);
  });
});
