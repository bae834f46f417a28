import { describe, expect, it } from 'vitest';
import { canTransition, INSTANCE_STATES, type InstanceState } from '../../shared/domain/instance.js';

const allowed: Array<[InstanceState, InstanceState]> = [
  ['creating', 'booting'],
  ['creating', 'failed'],
  ['booting', 'ready'],
  ['booting', 'failed'],
  ['ready', 'claimed'],
  ['ready', 'unhealthy'],
  ['ready', 'deleting'],
  ['claimed', 'deleting'],
  ['unhealthy', 'deleting'],
  ['failed', 'deleting'],
  ['deleting', 'deleted'],
];

describe('instance state machine', () => {
  it.each(allowed)('%s → %s is allowed', (from, to) => expect(canTransition(from, to)).toBe(true));

  it.each([
    ['claimed', 'ready'],
    ['claimed', 'unhealthy'],
    ['deleted', 'ready'],
    ['deleting', 'ready'],
    ['ready', 'booting'],
    ['unhealthy', 'ready'],
    ['creating', 'claimed'],
    ['booting', 'claimed'],
  ] as Array<[InstanceState, InstanceState]>)('%s → %s is refused', (from, to) => expect(canTransition(from, to)).toBe(false));

  it('deleted is terminal and no state moves to itself', () => {
    for (const s of INSTANCE_STATES) {
      expect(canTransition(s, s)).toBe(false);
      expect(canTransition('deleted', s)).toBe(false);
    }
  });

  it('a claimed machine is never marked unhealthy (people reboot machines they own)', () => {
    expect(canTransition('claimed', 'unhealthy')).toBe(false);
  });
});
