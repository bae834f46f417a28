import type { Publisher } from '../../shared/ports.js';
import type { RefillMessage, TeardownMessage } from '../../shared/domain/messages.js';

/** Records what is published; `failNext` makes the next publishes throw. */
export class FakePublisher implements Publisher {
  readonly teardowns: TeardownMessage[] = [];
  readonly refills: RefillMessage[] = [];
  failNext = 0;

  async publishTeardown(message: TeardownMessage): Promise<void> {
    this.#maybeFail();
    this.teardowns.push(message);
  }

  async publishRefill(message: RefillMessage): Promise<void> {
    this.#maybeFail();
    this.refills.push(message);
  }

  #maybeFail() {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('publish failed (injected)');
    }
  }
}
