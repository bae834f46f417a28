/**
 * The floor of bench:claim, deployed the way the claim is (its own process running
 * functions-framework, the same Firestore client): the minimum a claim must do, one
 * transaction that reads one instance record and updates its state and claim.
 */
import { http, type Request, type Response } from '@google-cloud/functions-framework';
import { createFirestore } from '../../shared/adapters/firestore-client.js';
import { loadConfig } from '../../shared/config.js';

const config = loadConfig();
const db = createFirestore({ projectId: config.project, emulatorHost: config.firestoreEmulatorHost });
const col = db.collection('floor_instances');

http('floor', async (req: Request, res: Response) => {
  const ref = col.doc(String((req.body as { doc: string }).doc));
  const out = await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const d = snap.data() as { state: string };
    const now = Date.now();
    tx.update(ref, { state: 'claimed', updatedAt: now, claim: { requestId: String(now), assignee: null, labels: {}, claimedAt: now, expiresAt: null } });
    return d.state;
  });
  res.status(200).json({ state: out });
});
